"""Support template: ticket created -> AI classification -> SLA routing -> breach escalation,
on the tasks of a support project."""

import logging

from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import UserError

from ..lib import template_support as sup

_logger = logging.getLogger(__name__)

TEMPLATE_CODE = "support"
TASK = "project.task"


class SaasWorkflowTemplate(models.Model):
    _inherit = "saas.workflow.template"

    def _template_activate_support(self, workflow, params):
        problems = sup.check_params(params)
        if problems:
            raise UserError("\n".join(problems))
        project = self._support_project(params["project_name"].strip())
        tags = self._support_tags()
        provider = self._support_provider(params)
        profile = self._support_profile(workflow, params, project, provider, tags)
        field = self.env["ir.model.fields"]._get
        calendar = self.env.company.resource_calendar_id
        lead = params["team_lead"]
        names = {"sla_urgent": self.env._("Support: urgent tickets"),
                 "sla_normal": self.env._("Support: normal tickets")}
        for row in sup.sla_rows(params):
            extra = [("priority", "=", row["priority"])] if row["priority"] else []
            policy = self._template_upsert(row["key"], "saas.sla.policy", {
                "name": names.get(row["key"], row["name"]),
                "sequence": row["sequence"],
                "company_id": self.env.company.id,
                "model_id": self.env["ir.model"]._get_id(TASK),
                "domain": sup.project_domain(project.id, *extra),
                "calendar_id": calendar.id,
                "response_hours": row["response_hours"],
                "resolution_hours": row["resolution_hours"],
                "responded_domain": "[('user_ids', '!=', False)]",
                "resolved_domain": repr([("state", "in", list(sup.RESOLVED_STATES))]),
                "user_field_id": field(TASK, "user_ids").id,
                "team_field_id": field(TASK, "tag_ids").id,
                "priority_field_id": field(TASK, "priority").id,
                "tier_field_id": False,
                "escalate_user_id": False,
                "team_lead_id": lead.id,
            })
            policy.automation_id.sudo().saas_workflow_id = workflow
        assignees = {label: params.get(f"{label}_user") for label, _tag in sup.CATEGORIES}
        wanted = set()
        for key, label, _tag_name, user in sup.routing_rows(assignees):
            wanted.add(key)
            self._template_upsert(key, "saas.routing.rule", {
                "name": self.env._("Support: %(category)s tickets", category=tags[label].name),
                "sequence": 10,
                "company_id": self.env.company.id,
                "model_id": self.env["ir.model"]._get_id(TASK),
                "domain": sup.project_domain(project.id, ("tag_ids", "in", [tags[label].id])),
                "user_field_id": field(TASK, "user_ids").id,
                "user_id": user.id,
                "only_unassigned": True,
            })
        for label, _tag in sup.CATEGORIES:
            key = f"route_{label}"
            rule = self._template_record(key)
            if key not in wanted and rule is not None:
                rule.active = False
        self._template_event_source(
            "source_ticket_created", workflow, TASK, "ticket.created", "on_create",
            name=self.env._("Support ticket created"),
            filter_domain=sup.project_domain(project.id),
            payload_fields=("name", "project_id", "partner_id", "priority"),
        )
        self._template_cron(
            "cron_escalation", workflow, self.env._("Support: SLA check and breach escalation"),
            "saas.workflow.template", "_cron_support_escalation",
            interval_number=params["check_minutes"], interval_type="minutes",
        )
        subscription = self.env.ref("saas_workflow_ai.subscription_ai_classify",
                                    raise_if_not_found=False)
        if subscription and not subscription.active:
            subscription.sudo().active = True
        Type = self.env["saas.workflow.event.type"].sudo().with_context(active_test=False)
        workflow.sudo().write({
            "consumed_type_ids": [(6, 0, Type.search([("code", "=", "ticket.created")]).ids)],
            "emitted_type_ids": [(6, 0, Type.search([("code", "in", [
                "ai.classification.applied", "ai.classification.review_requested",
                "ticket.sla_warning", "ticket.sla_breached"])]).ids)],
        })
        if provider.provider_type == "local":
            self._support_train(workflow, profile)
        return profile

    # ------------------------------------------------------------------ pieces
    def _support_project(self, name):
        """The support project (by name), created when there is none."""
        Project = self.env["project.project"].sudo().with_context(active_test=False)
        project = Project.search([("name", "=", name)], limit=1)
        if not project:
            project = Project.create({"name": name})
        elif not project.active:
            project.active = True
        return project

    def _support_tags(self):
        """``{label: project.tags}``: existing tags are reused by name."""
        Tag = self.env["project.tags"].sudo()
        tags = {}
        for label, name in sup.CATEGORIES:
            key = f"tag_{label}"
            tag = self._template_record(key)
            if tag is None:
                tag = Tag.search([("name", "=", name)], limit=1)
            if not tag:
                tag = self._template_upsert(key, "project.tags", {"name": name})
            tags[label] = tag
        return tags

    def _support_provider(self, params):
        name = (params.get("provider_name") or "").strip()
        if name:
            provider = self.env["saas.ai.provider"].sudo().search([("name", "=", name)], limit=1)
            if not provider:
                raise UserError(self.env._(
                    "No active AI provider is named %(name)s.", name=name))
            return provider
        return self._template_upsert("provider_local", "saas.ai.provider", {
            "name": self.env._("Support classifier (on-premise)"),
            "provider_type": "local",
            "local_embedder": "hashing",
        })

    def _support_profile(self, workflow, params, project, provider, tags):
        field = self.env["ir.model.fields"]._get
        fname, fdesc, fpartner = (field(TASK, n) for n in ("name", "description", "partner_id"))
        values = {
            "name": self.env._("Support ticket triage"),
            "company_id": self.env.company.id,
            "model_id": self.env["ir.model"]._get_id(TASK),
            "provider_id": provider.id,
            "allow_external": bool(params.get("allow_external")),
            "mode": "auto" if params.get("auto_apply") else "suggest",
            "confidence_threshold": min(params["category_threshold"],
                                        params["priority_threshold"]),
            "filter_domain": sup.project_domain(project.id),
            "trigger_on_create": True,
            "allowed_field_ids": [(6, 0, [fname.id, fdesc.id, fpartner.id])],
            "input_field_ids": [(6, 0, [fname.id, fdesc.id])],
            "review_user_ids": [(6, 0, params["team_lead"].ids)],
        }
        profile = self._template_upsert("profile", "saas.ai.profile", values)
        outputs = (
            ("category", field(TASK, "tag_ids"), params["category_threshold"], [
                {"name": label, "value_ref": f"project.tags,{tags[label].id}", "value_char": False}
                for label, _name in sup.CATEGORIES
            ]),
            ("priority", field(TASK, "priority"), params["priority_threshold"], [
                {"name": label, "value_char": value, "value_ref": False}
                for label, value in sup.PRIORITIES
            ]),
        )
        for sequence, (name, target, threshold, labels) in enumerate(outputs):
            output = profile.output_ids.filtered(lambda o, n=name: o.name == n)[:1]
            if not output:
                output = self.env["saas.ai.profile.output"].sudo().create({
                    "profile_id": profile.id, "name": name, "field_id": target.id,
                    "sequence": sequence, "threshold": threshold,
                })
            else:
                output.write({"field_id": target.id, "threshold": threshold})
            for label_values in labels:
                label = output.label_ids.filtered(lambda x, n=label_values["name"]: x.name == n)
                if label:
                    label.write(label_values)
                else:
                    self.env["saas.ai.label"].sudo().create(
                        dict(label_values, output_id=output.id))
        profile.automation_id.sudo().saas_workflow_id = workflow
        return profile

    def _support_train(self, workflow, profile):
        """Train the local model on the labeled tasks; say so when there are too few."""
        try:
            with self.env.cr.savepoint():
                profile.sudo().action_retrain()
        except UserError as exc:
            _logger.info("Support template: local model not trained: %s", exc)
            workflow.sudo().message_post(body=Markup("<p>%s</p>") % self.env._(
                "The on-premise classifier is not trained yet (%(reason)s). Tag a few tickets "
                "with their category and priority, then click Retrain on the profile %(profile)s; "
                "until then tickets go to the review queue.",
                reason=exc.args[0] if exc.args else exc, profile=profile.name))

    @api.model
    def _cron_support_escalation(self):
        """Scheduled SLA check of the support template: nothing while it is switched off."""
        if not self._active_by_code(TEMPLATE_CODE):
            return 0
        return self.env["saas.sla.status"]._cron_check()
