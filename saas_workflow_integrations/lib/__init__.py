"""Odoo-free building blocks of the webhook integration (importable without Odoo)."""
