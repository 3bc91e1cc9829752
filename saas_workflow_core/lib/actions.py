"""Client actions the suite's models return (plain dictionaries, no Odoo import)."""


def record_form(res_model, res_id):
    """The window action opening one record of any model in its form view."""
    return {
        "type": "ir.actions.act_window",
        "res_model": res_model,
        "res_id": res_id,
        "view_mode": "form",
        "views": [(False, "form")],
        "target": "current",
    }
