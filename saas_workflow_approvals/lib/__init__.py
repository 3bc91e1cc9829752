"""Odoo-free approval logic: quorum, planning, segregation of duties,
fingerprints, escalation and delegation resolution."""
