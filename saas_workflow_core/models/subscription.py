import logging

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools.safe_eval import safe_eval

from ..lib import backoff
from ..lib.errors import PermanentError

_logger = logging.getLogger(__name__)


class SaasWorkflowSubscription(models.Model):
    """Routes event types to a handler.

    Extension point: an addon adds a handler kind with
    ``handler_type = fields.Selection(selection_add=[("kind", "Label")], ondelete=...)``
    and a method ``_handle_<kind>(self, event, delivery)``. The dispatcher calls
    it in a savepoint; raising ``lib.errors.RetryableError`` (or any exception)
    schedules a retry, ``lib.errors.PermanentError`` sends the delivery to the
    dead letter queue at once.
    """

    _name = "saas.workflow.subscription"
    _description = "Event Subscription"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    workflow_id = fields.Many2one(
        "saas.workflow", ondelete="restrict", tracking=True, check_company=True, index=True
    )
    owner_id = fields.Many2one(
        "res.users", default=lambda self: self.env.user, tracking=True
    )
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
        help="Only events of this company are routed here. Empty: every company.",
    )
    event_type_ids = fields.Many2many(
        "saas.workflow.event.type",
        "saas_workflow_subscription_type_rel",
        "subscription_id",
        "type_id",
        string="Event Types",
        required=True,
        tracking=True,
    )
    filter_model = fields.Char(
        compute="_compute_filter_model",
        help="Model of the source records, when every subscribed type has the same one.",
    )
    filter_domain = fields.Char(
        string="Filter",
        tracking=True,
        help="Domain on the source record; only matching events are delivered. Empty: all.",
    )
    handler_type = fields.Selection(
        [
            ("server_action", "Run a server action"),
            ("noop", "Acknowledge only"),
        ],
        string="Handler",
        required=True,
        default="server_action",
        tracking=True,
    )
    action_id = fields.Many2one(
        "ir.actions.server",
        string="Server Action",
        tracking=True,
        help="Runs with the source record as active record and the event in "
        "env.context['saas_workflow_event'].",
    )
    run_as_user_id = fields.Many2one(
        "res.users",
        string="Run As",
        tracking=True,
        help="User whose access rights apply to the server action. Empty: superuser.",
    )
    retry_schedule = fields.Char(
        tracking=True,
        help="Seconds to wait before each retry, comma separated (e.g. 30,120,600). "
        "Empty: the default schedule from the settings.",
    )
    jitter = fields.Float(
        default=0.2, tracking=True, help="Random spread of each retry delay, as a fraction."
    )
    delivery_ids = fields.One2many("saas.workflow.delivery", "subscription_id")
    delivery_count = fields.Integer(compute="_compute_delivery_stats")
    dead_count = fields.Integer(compute="_compute_delivery_stats")
    success_rate = fields.Float(compute="_compute_delivery_stats", string="Success Rate (%)")

    @api.depends("workflow_id")
    def _compute_company_id(self):
        for sub in self:
            sub.company_id = sub.company_id or sub.workflow_id.company_id

    @api.depends("event_type_ids.source_model")
    def _compute_filter_model(self):
        for sub in self:
            models_ = set(sub.event_type_ids.mapped("source_model"))
            sub.filter_model = models_.pop() if len(models_) == 1 and None not in models_ else False

    def _compute_delivery_stats(self):
        Delivery = self.env["saas.workflow.delivery"]
        groups = Delivery._read_group(
            [("subscription_id", "in", self.ids)], ["subscription_id", "state"], ["__count"]
        )
        stats = {}
        for sub, state, count in groups:
            stats.setdefault(sub.id, {})[state] = count
        for sub in self:
            by_state = stats.get(sub.id, {})
            total = sum(by_state.values())
            sub.delivery_count = total
            sub.dead_count = by_state.get("dead", 0)
            finished = by_state.get("done", 0) + by_state.get("dead", 0)
            sub.success_rate = 100.0 * by_state.get("done", 0) / finished if finished else 0.0

    @api.constrains("retry_schedule", "jitter")
    def _check_retry(self):
        for sub in self:
            try:
                backoff.parse_schedule(sub.retry_schedule)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
            if not 0 <= sub.jitter < 1:
                raise ValidationError(self.env._("Jitter must be between 0 and 1."))

    @api.constrains("handler_type", "action_id")
    def _check_action(self):
        for sub in self:
            if sub.handler_type == "server_action" and not sub.action_id:
                raise ValidationError(
                    self.env._("Subscription %(name)s needs a server action to run.", name=sub.name)
                )

    @api.constrains("filter_domain")
    def _check_filter_domain(self):
        for sub in self.filtered("filter_domain"):
            try:
                domain = safe_eval(sub.filter_domain)
            except Exception as exc:
                raise ValidationError(
                    self.env._("Invalid filter on %(name)s: %(error)s", name=sub.name, error=exc)
                ) from exc
            if not isinstance(domain, list):
                raise ValidationError(self.env._("A filter must be a domain (a list)."))

    @api.ondelete(at_uninstall=False)
    def _unlink_except_delivered(self):
        if self.env["saas.workflow.delivery"].sudo().search_count(
            [("subscription_id", "in", self.ids)], limit=1
        ):
            raise UserError(
                self.env._("Subscriptions with deliveries keep their history: archive them instead.")
            )

    # ------------------------------------------------------------------
    # Dispatcher interface
    # ------------------------------------------------------------------
    def _get_schedule(self):
        self.ensure_one()
        default = self.env["saas.workflow.delivery"]._default_schedule()
        return backoff.parse_schedule(self.retry_schedule, default=default)

    def _get_domain(self):
        self.ensure_one()
        return safe_eval(self.filter_domain) if self.filter_domain else []

    def _run_handler(self, event, delivery):
        """Run this subscription's handler for ``event``; see the class docstring."""
        self.ensure_one()
        method = getattr(self, f"_handle_{self.handler_type}", None)
        if method is None:
            raise PermanentError(
                f"No handler is installed for subscriptions of kind {self.handler_type!r}"
            )
        return method(event, delivery)

    def _handler_needs_savepoint(self, delivery):
        """Whether the handler may write to the database for ``delivery`` (default: yes).

        The dispatcher runs each handler in a savepoint, so that a failure rolls
        back its own work only, with the event in ``env.context``. A handler kind
        whose work for this delivery was done ahead of the loop and only has to be
        reported (e.g. an HTTP answer received by a batch hook of the dispatcher)
        may answer False: it then runs without the savepoint round trips and must
        not write anything.
        """
        return True

    def _handle_noop(self, event, delivery):
        return None

    def _handle_server_action(self, event, delivery):
        action = self.action_id.sudo()
        if not action:
            raise PermanentError("The subscription has no server action")
        user = self.run_as_user_id or self.env["res.users"].browse(SUPERUSER_ID)
        record = event._get_record()
        ctx = {"saas_workflow_event_record": event.id}
        if record:
            ctx.update(active_model=record._name, active_id=record.id, active_ids=record.ids)
        elif action.model_id.model:
            ctx.update(active_model=action.model_id.model)
        action.with_user(user).with_context(**ctx).run()
        return None

    def action_view_deliveries(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("saas_workflow_core.action_delivery")
        action["domain"] = [("subscription_id", "=", self.id)]
        return action
