"""Odoo-free building blocks of the event layer.

Nothing in this package imports ``odoo``: it can be read and tested alone.
"""
