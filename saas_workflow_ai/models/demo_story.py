"""Orbitly's support desk: tickets are project.task records of the "Orbitly Support" project.

Resolved tickets carry their category (a tag); the local provider is trained on
them, then the new tickets are classified, routed and timed by the SLA policy.
Only when project is installed.
"""

from datetime import timedelta

from odoo import api, fields, models

CATEGORIES = {
    "billing": "Billing",
    "bug": "Bug",
    "access": "Access",
    "feature": "Feature request",
}

# category, customer, title, description
HISTORY = [
    ("billing", "brightline", "Invoice shows the wrong number of seats",
     "Our March invoice charges 45 seats but we only have 40 dispatchers. Please correct the invoice."),
    ("billing", "harbor_pine", "Charged twice for the Team plan",
     "The card was charged twice this month for the same subscription. We need a refund of the duplicate payment."),
    ("billing", "kestrel", "Need a PO number on our invoices",
     "Our finance department rejects invoices without a purchase order number. Can you add our PO to the billing address?"),
    ("billing", "quantix", "Switch from monthly to annual billing",
     "We want to move the subscription to annual billing with the discount. How does the invoice change?"),
    ("billing", "meridian", "VAT missing on the invoice",
     "The invoice does not show our VAT number, please send a corrected invoice with VAT."),
    ("billing", "brightline", "Payment failed with our new credit card",
     "The payment for this month failed after we replaced the company credit card. How do we update the card?"),
    ("billing", "fjord", "Quote for 200 more seats",
     "Please send a price quote for 200 additional seats and the cost per seat on the invoice."),
    ("bug", "brightline", "Calendar sync stops after a few hours",
     "The Outlook calendar sync stops working after a few hours, events created in Orbitly do not appear. Error 500 in the log."),
    ("bug", "kestrel", "Shift planner crashes when dragging a shift",
     "The shift planner page crashes with a blank screen when we drag a shift to another day. Happens in Chrome and Edge."),
    ("bug", "harbor_pine", "Export to CSV has broken characters",
     "Exporting the weekly schedule to CSV shows broken characters for accented names. The export used to work."),
    ("bug", "quantix", "Reminder emails sent twice",
     "Every booking reminder email is sent twice since yesterday's release. Looks like a bug in the scheduler."),
    ("bug", "meridian", "Mobile app freezes on login screen",
     "The Android app freezes on the login screen after the update, we have to force close it. Error after the last release."),
    ("bug", "fjord", "API returns 500 on booking create",
     "Our integration gets HTTP 500 errors from the bookings API when we create a booking with a custom field."),
    ("bug", "brightline", "Timezone wrong in the weekly report",
     "The weekly report shows all bookings one hour late, the timezone seems wrong since the clock change."),
    ("access", "kestrel", "SSO login fails for new employees",
     "New employees cannot log in with single sign-on, they get access denied although they are in the Azure group."),
    ("access", "brightline", "Reset two-factor authentication for a dispatcher",
     "A dispatcher lost her phone and cannot log in because of two-factor authentication. Please reset her 2FA."),
    ("access", "harbor_pine", "Add a new store manager as admin",
     "Please give admin access to our new store manager, she needs permission to edit the schedules of her store."),
    ("access", "quantix", "Locked out after password attempts",
     "Our lab manager is locked out after too many password attempts. Can you unlock the account?"),
    ("access", "meridian", "Remove access for a former employee",
     "Please remove the user account and all access rights of an employee who left the firm yesterday."),
    ("access", "fjord", "Invitation email link expired",
     "The invitation link to join our workspace has expired before the new users could log in. Please resend invitations."),
    ("access", "kestrel", "Permission error on the reports page",
     "Team leads get a permission denied error when they open the reports page, they had access last week."),
    ("feature", "brightline", "Export schedules to Google Sheets",
     "It would be great to export schedules directly to Google Sheets instead of CSV. Could you add this feature?"),
    ("feature", "harbor_pine", "Dark mode for the mobile app",
     "Our store staff would love a dark mode in the mobile app for evening shifts. Is this on the roadmap?"),
    ("feature", "quantix", "Recurring bookings every second week",
     "We would like to create recurring bookings every second week. Please consider adding this option."),
    ("feature", "kestrel", "Custom fields on the booking form",
     "Could you add custom fields to the booking form so we can store the ward number? A suggestion from our nurses."),
    ("feature", "meridian", "Slack notifications for new bookings",
     "A Slack integration that posts new bookings to a channel would help our team. Any plans for this feature?"),
    ("feature", "fjord", "Bulk edit of vehicle schedules",
     "We need a way to bulk edit many vehicle schedules at once. Would be a great improvement for dispatch."),
    ("feature", "brightline", "API webhook for cancelled bookings",
     "Please add a webhook when a booking is cancelled, so our ERP can free the slot. A feature request from IT."),
]

# customer, title, description, hours ago
NEW_TICKETS = [
    ("kestrel", "Invoice charged for 60 seats instead of 50",
     "This month's invoice bills 60 seats, our contract says 50. Please send a corrected invoice and refund the difference.", 2),
    ("brightline", "Dispatch board crashes when filtering by depot",
     "Since this morning the dispatch board crashes with an error when we filter by depot. All dispatchers are blocked.", 30),
    ("quantix", "Cannot log in with SSO since the certificate change",
     "After we rotated our identity provider certificate nobody can log in with single sign-on. Access denied for everyone.", 5),
    ("harbor_pine", "Please add a weekly summary email",
     "Store managers would like a weekly summary email of next week's shifts. Could this be added as a feature?", 20),
    ("fjord", "Question about our trial",
     "We have a question about the trial, can someone call us back this week?", 3),
    ("meridian", "Refund for the unused month",
     "We cancelled but were charged for another month. We expect a refund of this payment on our card.", 50),
]


class SaasWorkflowDemo(models.AbstractModel):
    _inherit = "saas.workflow.demo"

    @api.model
    def _load_ai_story(self):
        if "project.task" not in self.env or self._demo_done("ai_project"):
            return True
        Task = self.env["project.task"].with_context(mail_create_nolog=True, tracking_disable=True)
        sofia = self._demo_ref("saas_workflow_core.demo_user_sofia")
        self._demo_group(sofia, "project.group_project_user", "saas_workflow_ai.group_ai_user")
        project = self.env["project.project"].create({
            "name": "Orbitly Support",
            "user_id": sofia.id if sofia else self.env.uid,
            "privacy_visibility": "employees",
        })
        stages = self.env["project.task.type"].create([
            {"name": "New", "sequence": 1, "project_ids": [(4, project.id)]},
            {"name": "In progress", "sequence": 2, "project_ids": [(4, project.id)]},
            {"name": "Solved", "sequence": 3, "fold": True, "project_ids": [(4, project.id)]},
        ])
        Tag = self.env["project.tags"]
        tags = {key: Tag.search([("name", "=", name)], limit=1) or Tag.create({"name": name})
                for key, name in CATEGORIES.items()}
        Task.create([
            {
                "name": title,
                "description": description,
                "project_id": project.id,
                "partner_id": self._demo_customer(customer).id,
                "tag_ids": [(6, 0, tags[category].ids)],
                "user_ids": [(6, 0, sofia.ids)],
                "stage_id": stages[2].id,
                "state": "1_done",
            }
            for category, customer, title, description in HISTORY
        ])
        profile = self._demo_ai_profile(project, tags, sofia)
        profile.action_retrain()
        policy = self._demo_sla_policy(project, sofia)
        tickets = Task.create([
            {
                "name": title,
                "description": description,
                "project_id": project.id,
                "partner_id": self._demo_customer(customer).id,
                "user_ids": [(5, 0, 0)],
                "stage_id": stages[0].id,
            }
            for customer, title, description, _hours in NEW_TICKETS
        ])
        profile.action_classify_records(tickets)
        Status = self.env["saas.sla.status"]
        Status._sync_records(tickets)
        # the tickets arrived over the last two days: start their clocks then, and let the
        # SLA check flag the ones past their deadlines
        now = fields.Datetime.now()
        for ticket, (_c, _t, _d, hours) in zip(tickets, NEW_TICKETS):
            status = Status.search([("res_model", "=", "project.task"), ("res_id", "=", ticket.id)])
            if not status:
                continue
            start = now - timedelta(hours=hours)
            status.write({
                "start_at": start,
                "response_deadline": policy._deadline(start, policy.response_hours),
                "resolution_deadline": policy._deadline(start, policy.resolution_hours),
                "warning_at": policy._deadline(start, policy.resolution_hours * policy.warning_ratio),
            })
        Status._cron_check()
        self._demo_mark("ai_project")
        self._demo_dispatch()
        return True

    @api.model
    def _demo_ai_profile(self, project, tags, sofia):
        def field(name):
            return self.env["ir.model.fields"]._get("project.task", name)

        provider = self.env.ref("saas_workflow_ai.demo_provider_local")
        return self.env["saas.ai.profile"].create({
            "name": "Support ticket triage",
            "model_id": self.env["ir.model"]._get_id("project.task"),
            "provider_id": provider.id,
            "mode": "auto",
            "confidence_threshold": 0.55,
            "trigger_on_create": True,
            "filter_domain": "[('project_id', '=', %d)]" % project.id,
            "allowed_field_ids": [(6, 0, [field("name").id, field("description").id])],
            "input_field_ids": [(6, 0, [field("name").id, field("description").id])],
            "review_user_ids": [(6, 0, sofia.ids)] if sofia else False,
            "output_ids": [(0, 0, {
                "name": "category",
                "field_id": field("tag_ids").id,
                "label_ids": [
                    (0, 0, {"name": key, "value_ref": "project.tags,%d" % tag.id})
                    for key, tag in tags.items()
                ],
            })],
        })

    @api.model
    def _demo_sla_policy(self, project, sofia):
        def field(name):
            return self.env["ir.model.fields"]._get("project.task", name)

        olivia = self._demo_ref("saas_workflow_core.demo_user_olivia")
        access = self.env["project.tags"].search([("name", "=", CATEGORIES["access"])], limit=1)
        if olivia and access:
            self._demo_group(olivia, "project.group_project_user")
            self.env["saas.routing.rule"].create({
                "name": "Access problems to IT",
                "model_id": self.env["ir.model"]._get_id("project.task"),
                "domain": "[('project_id', '=', %d), ('tag_ids', 'in', [%d])]"
                % (project.id, access.id),
                "user_field_id": field("user_ids").id,
                "user_id": olivia.id,
            })
        return self.env["saas.sla.policy"].create({
            "name": "Orbitly Support: business hours",
            "model_id": self.env["ir.model"]._get_id("project.task"),
            "domain": "[('project_id', '=', %d)]" % project.id,
            "response_hours": 4.0,
            "resolution_hours": 16.0,
            "responded_domain": "[('stage_id.sequence', '>=', 2)]",
            "resolved_domain": "[('state', 'in', ['1_done', '1_canceled'])]",
            "user_field_id": field("user_ids").id,
            "priority_field_id": field("priority").id,
            "tier_field_id": field("partner_id").id,
            "escalate_user_id": sofia.id if sofia else False,
            "team_lead_id": sofia.id if sofia else self.env.uid,
        })
