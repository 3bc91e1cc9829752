import json
import logging

from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.addons.saas_workflow_core.lib.actions import record_form
from odoo.exceptions import AccessError, UserError
from odoo.tools.mail import generate_tracking_message_id

from ..lib import planning
from .common import check_protected_write, hours_between, internal, is_internal

_logger = logging.getLogger(__name__)

STATES = [
    ("draft", "Draft"),
    ("pending", "Pending"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("cancelled", "Cancelled"),
    ("exception", "Exception"),
]
OPEN_STATES = ("draft", "pending", "approved", "exception")

PROTECTED_FIELDS = frozenset(
    {
        "state", "res_model", "res_id", "policy_id", "method_name", "requester_id",
        "submitted_at", "decided_at", "policy_snapshot", "step_ids", "decision_ids",
        "amount", "currency_id", "fingerprint_paths", "fingerprint_submitted",
        "fingerprint_approved", "exception_reason", "reject_reason", "cancel_reason",
        "turnaround_hours", "escalation_count", "company_id",
    }
)

PLAN_ERRORS = {
    planning.ERR_NO_APPROVER: "nobody can approve it (empty group, missing manager or user)",
    planning.ERR_ONLY_REQUESTER: "its only approver is the requester",
    planning.ERR_QUORUM_UNREACHABLE: "it needs more approvers than there are",
    planning.ERR_SAME_APPROVER: "only people already needed by an earlier step could approve it",
}


class SaasApprovalRequest(models.Model):
    _name = "saas.approval.request"
    _description = "Approval request"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True
    _mail_post_access = "read"

    name = fields.Char(required=True, readonly=True, default="/", copy=False)
    res_model = fields.Char("Model", required=True, readonly=True, index=True)
    res_id = fields.Many2oneReference("Record ID", model_field="res_model", required=True,
                                      readonly=True, index=True)
    res_name = fields.Char("Document", readonly=True)
    policy_id = fields.Many2one("saas.approval.policy", required=True, readonly=True,
                                ondelete="restrict", index=True)
    method_name = fields.Char("Guarded action", required=True, readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    state = fields.Selection(STATES, default="draft", required=True, readonly=True, index=True)
    requester_id = fields.Many2one("res.users", required=True, readonly=True, index=True)
    submitted_at = fields.Datetime(readonly=True)
    decided_at = fields.Datetime(readonly=True)
    policy_snapshot = fields.Json(readonly=True, help="Policy as it was at submission.")
    step_ids = fields.One2many("saas.approval.request.step", "request_id", readonly=True)
    decision_ids = fields.One2many("saas.approval.decision", "request_id", readonly=True)
    amount = fields.Monetary(currency_field="currency_id", readonly=True,
                             help="Amount in the policy currency at submission.")
    currency_id = fields.Many2one("res.currency", readonly=True)
    fingerprint_paths = fields.Json(readonly=True)
    fingerprint_submitted = fields.Char(readonly=True)
    fingerprint_approved = fields.Char(readonly=True)
    exception_reason = fields.Text(readonly=True)
    reject_reason = fields.Text(readonly=True)
    cancel_reason = fields.Text(readonly=True)
    turnaround_hours = fields.Float(readonly=True, aggregator="avg")
    escalation_count = fields.Integer(readonly=True)
    current_step_names = fields.Char(compute="_compute_current_step", string="Waiting for")
    current_approver_ids = fields.Many2many("res.users", compute="_compute_current_step",
                                            string="Current approvers")
    can_decide = fields.Boolean(compute="_compute_can_decide", search="_search_can_decide")
    snapshot_display = fields.Text(compute="_compute_snapshot_display", string="Frozen policy")
    timeline_html = fields.Html(compute="_compute_timeline_html", string="Timeline",
                                sanitize=False)

    # ------------------------------------------------------------------ compute
    @api.depends("step_ids.state")
    def _compute_current_step(self):
        for request in self:
            steps = request.step_ids.filtered(lambda s: s.state == "pending")
            request.current_step_names = ", ".join(steps.mapped("name"))
            request.current_approver_ids = steps.approver_ids | steps.escalation_user_ids

    @api.depends_context("uid")
    def _compute_can_decide(self):
        for request in self:
            request.can_decide = bool(request.step_ids._decidable_by_me())

    def _search_can_decide(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on can_decide."))
        steps = self.env["saas.approval.request.step"].search([("can_decide", "=", True)])
        positive = (operator == "=") == value
        return [("id", "in" if positive else "not in", steps.request_id.ids)]

    def _compute_snapshot_display(self):
        for request in self:
            request.snapshot_display = json.dumps(request.policy_snapshot or {}, indent=2,
                                                  ensure_ascii=False)

    @api.depends("state", "submitted_at", "decided_at", "step_ids.state",
                 "step_ids.decision_ids")
    @api.depends_context("lang", "tz")
    def _compute_timeline_html(self):
        """The steps in order, each with its approvers, dates and decisions.

        Rendered by the QWeb template ``request_timeline`` (which escapes every
        value), hence no sanitizing of the field itself.
        """
        QWeb = self.env["ir.qweb"]
        step_states = dict(self.env["saas.approval.request.step"]._fields["state"]
                           ._description_selection(self.env))
        kinds = dict(self.env["saas.approval.request.step"]._fields["kind"]
                     ._description_selection(self.env))
        quorums = dict(self.env["saas.approval.request.step"]._fields["quorum"]
                       ._description_selection(self.env))
        Decision = self.env["saas.approval.decision"]
        decision_labels = dict(Decision._fields["decision"]._description_selection(self.env))
        channels = dict(Decision._fields["channel"]._description_selection(self.env))
        oversight_labels = {"approve": self.env._("Reviewed without concern"),
                            "reject": self.env._("Raised a concern")}
        request_states = dict(self._fields["state"]._description_selection(self.env))
        now = fields.Datetime.now()
        for request in self:
            if not request.id or not request.step_ids:
                request.timeline_html = False
                continue
            steps = request.step_ids.sorted(lambda s: (s.sequence, s.id))
            request.timeline_html = QWeb._render("saas_workflow_approvals.request_timeline", {
                "approval": request,
                "approval_state_label": request_states.get(request.state, request.state),
                "steps": [{
                    "step": step,
                    "state_label": step_states.get(step.state, step.state),
                    "kind_label": kinds.get(step.kind, step.kind),
                    "quorum_label": quorums.get(step.quorum, step.quorum),
                    "overdue": bool(step.state == "pending" and step.deadline
                                    and step.deadline < now),
                    "decisions": [{
                        "decision": decision,
                        "label": (oversight_labels.get(decision.decision)
                                  if step.kind == planning.OVERSIGHT else None)
                        or decision_labels.get(decision.decision, decision.decision),
                        "channel": channels.get(decision.channel, decision.channel),
                    } for decision in step.decision_ids.sorted(lambda d: (d.decided_at, d.id))],
                } for step in steps],
            })

    # --------------------------------------------------------------- protection
    @api.model_create_multi
    def create(self, vals_list):
        if not is_internal(self.env):
            raise AccessError(
                self.env._("Approval requests are created by running the guarded action.")
            )
        sequence = None
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                if sequence is None:
                    # the sequence next_by_code would pick, looked up once per batch
                    sequence = self.env["ir.sequence"].sudo().search(
                        [("code", "=", "saas.approval.request"),
                         ("company_id", "in", [self.env.company.id, False])],
                        order="company_id", limit=1,
                    )
                vals["name"] = (sequence._next() if sequence else False) or "/"
        return super().create(vals_list)

    def write(self, vals):
        check_protected_write(self, vals, PROTECTED_FIELDS)
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_audited(self):
        if not is_internal(self.env) and self.filtered(lambda r: r.state != "draft" or r.decision_ids):
            raise AccessError(self.env._("Approval requests are kept for the audit trail."))

    # ------------------------------------------------------------ record helpers
    def _record(self):
        self.ensure_one()
        if self.res_model not in self.env:
            return None
        record = self.env[self.res_model].sudo().browse(self.res_id).exists()
        return record or None

    def _records_map(self):
        """``{request id: document (sudo) or None}`` with one existence check per model."""
        ids_by_model = {}
        for request in self:
            ids_by_model.setdefault(request.res_model, set()).add(request.res_id)
        existing = {}
        for model, res_ids in ids_by_model.items():
            if model in self.env:
                found = self.env[model].sudo().browse(list(res_ids)).exists()
                existing.update({(model, rec.id): rec for rec in found})
        return {r.id: existing.get((r.res_model, r.res_id)) for r in self}

    def _post(self, body):
        """Log ``body`` on the chatter of each request's document (see :meth:`_post_many`)."""
        self._post_many({request.id: body for request in self})

    def _post_many(self, bodies, records=None):
        """Log ``bodies`` ({request id: body}), one ``mail.message`` create per model.

        Each note goes where people working on the document read it: the
        document's chatter, or the request's own when the document has none (or
        is gone). The request form shows every step and decision in its
        timeline, so the note is not repeated there. ``records``: see
        :meth:`_records_map`.

        The messages are those ``mail.thread._message_log_batch`` writes (internal
        notes without notification), built here for several models at once.
        """
        requests = self.browse(list(bodies))
        if records is None:
            records = requests._records_map()
        targets = []
        for request in requests:
            record = records.get(request.id)
            if record is None or not hasattr(record, "_message_log_batch"):
                record = request
            targets.append((record._name, record.id, bodies[request.id]))
        if not targets:
            return self.env["mail.message"]
        Thread = self.env["mail.thread"].sudo()
        author_id, email_from = Thread._message_compute_author(raise_on_email=False)
        base = {
            "author_id": author_id,
            "email_from": email_from,
            "record_alias_domain_id": False,
            "record_company_id": False,
            "record_name": False,
            "message_type": "notification",
            "is_internal": True,
            "subtype_id": self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note"),
            "email_add_signature": False,
            "reply_to": Thread._notify_get_reply_to(default=email_from)[False],
        }
        by_model = {}
        for model, res_id, body in targets:
            by_model.setdefault(model, []).append(dict(
                base, model=model, res_id=res_id, body=escape(body),
                message_id=generate_tracking_message_id("message-notify")))
        # one create per model: mail.message's create is slower on mixed models
        messages = self.env["mail.message"]
        for values_list in by_model.values():
            messages |= Thread._message_create(values_list)
        return messages

    def _emit(self, code, extra=None, records=None):
        """Emit ``code`` for each request, ``extra`` added to every payload."""
        return self._emit_each(code, [(request, extra) for request in self], records=records)

    @api.model
    def _emit_each(self, code, entries, records=None):
        """Emit ``code`` once per ``(request, extra payload)`` of ``entries``, in one batch.

        The event is about the document (the request when the document is gone);
        ``records``: see :meth:`_records_map`.
        """
        if records is None:
            records = self.browse([request.id for request, _extra in entries])._records_map()
        items = []
        for request, extra in entries:
            payload = {
                "request_id": request.id,
                "request": request.name,
                "policy_id": request.policy_id.id,
                "policy": request.policy_id.name,
                "res_model": request.res_model,
                "res_id": request.res_id,
                "method": request.method_name,
                "state": request.state,
                "requester_id": request.requester_id.id,
                "amount": request.amount,
                "currency": request.currency_id.name or None,
            }
            payload.update(extra or {})
            record = records.get(request.id)
            items.append({
                "record": record if record is not None else request,
                "payload": payload,
                "correlation_id": f"approval:{request.id}",
            })
        return self.env["saas.workflow.event"].sudo().emit_many(code, items)

    @api.model
    def _find_open(self, res_model, res_ids, method_name):
        requests = self.sudo().search(
            [
                ("res_model", "=", res_model),
                ("res_id", "in", list(res_ids)),
                ("method_name", "=", method_name),
                ("state", "in", OPEN_STATES),
            ],
            order="id desc",
        )
        found = {}
        for request in requests:
            found.setdefault(request.res_id, request)
        return found

    # --------------------------------------------------------------- the guard
    @api.model
    def _evaluate_guard(self, record, method_name, policies, request):
        """Return the request blocking ``record``, or an empty recordset if allowed."""
        Policy = self.env["saas.approval.policy"]
        if request:
            current = Policy._compute_fingerprint(record, request.fingerprint_paths or [])
            if request.state == "approved":
                if current == request.fingerprint_approved:
                    return self.browse()
                request._close(
                    "cancelled",
                    self.env._("Approval invalidated: approval-relevant values of the document "
                               "changed after approval."),
                )
                request = None
            elif current == request.fingerprint_submitted:
                if request.state == "draft":
                    request._submit()
                    if request.state == "approved":
                        return self.browse()
                return request
            else:
                request._close(
                    "cancelled",
                    self.env._("The document changed while the request was pending; "
                               "a new request replaces it."),
                )
                request = None
        return self._guard_new(record, method_name, policies)

    @api.model
    def _guard_new(self, records, method_name, policies):
        """Requests blocking ``records``, none of which has an open request.

        One policy match pass over the whole recordset, then per policy one
        ``create`` for the submitted requests and their steps, one for the
        activities and one for the chatter notes.
        """
        blocked = self.browse()
        for policy, matched in policies._match(records):
            requests = self._create_for(matched, method_name, policy)
            blocked |= requests.filtered(lambda r: r.state != "approved")
        return blocked

    @api.model
    def _create_for(self, records, method_name, policy):
        """One submitted request per record of ``records`` (all matched by ``policy``)."""
        requester = self.env.user
        Policy = self.env["saas.approval.policy"]
        paths = policy._fingerprint_paths()
        snapshot = policy._snapshot()
        now = fields.Datetime.now()
        documents = records.sudo()
        vals_list = []
        for record, document in zip(records, documents):
            amount = policy._get_amount(document) or 0.0
            company = policy._record_company(document)
            vals = {
                "res_model": record._name,
                "res_id": record.id,
                "res_name": document.display_name,
                "policy_id": policy.id,
                "method_name": method_name,
                "company_id": company.id,
                "requester_id": requester.id,
                # before the amount: a Monetary value is rounded in the currency
                "currency_id": (policy.currency_id or company.currency_id).id,
                "amount": amount,
                "fingerprint_paths": paths,
                "fingerprint_submitted": Policy._compute_fingerprint(record, paths),
            }
            vals.update(self._submission_vals(
                policy, document, requester, amount if policy.amount_field_id else None,
                snapshot, now))
            vals_list.append(vals)
        # requests have no tracked field and no creation message: skip the chatter
        # machinery of mail.thread.create
        requests = internal(self).with_context(
            mail_create_nolog=True, mail_create_nosubscribe=True, tracking_disable=True
        ).create(vals_list)
        requests = self.browse(requests.ids)
        requests._route(dict(zip(requests.ids, documents)))
        return requests

    @api.model
    def _submission_vals(self, policy, record, requester, amount, snapshot, now):
        """What submitting a request for ``record`` writes: the frozen plan (resolved
        approvers in the snapshot), its steps, and the state: *pending* with its
        first steps open, or *exception* when a step cannot be routed.

        ``amount``: in the policy currency, None when the policy has no amount.
        """
        pairs = policy._plan_for(record, requester, amount)
        planned = [p for _s, p in pairs]
        Step = self.env["saas.approval.request.step"]
        steps = [
            {
                "sequence": p.sequence,
                "name": p.name,
                "kind": p.kind,
                "quorum": p.quorum,
                "min_approvals": policy_step.min_approvals,
                "required_count": p.required,
                "rejection_rule": policy_step.rejection_rule,
                "approver_ids": [(6, 0, p.approvers)],
                "state": "skipped" if p.skipped else planning.WAITING,
                "timeout_hours": policy_step.timeout_hours,
                "escalation_action": policy_step.escalation_action,
                "escalation_target_id": policy_step.escalation_user_id.id or False,
                "reminder_hours": policy_step.reminder_hours,
            }
            for policy_step, p in pairs
        ]
        vals = {
            "policy_snapshot": dict(snapshot, resolved=[
                {"step": p.name, "approver_ids": p.approvers, "skipped": p.skipped,
                 "error": p.error}
                for p in planned
            ]),
            "submitted_at": now,
            "step_ids": [(0, 0, step) for step in steps],
        }
        error = planning.first_error(planned)
        if error:
            vals["state"] = "exception"
            vals["exception_reason"] = self.env._(
                "Step “%(step)s” cannot be routed: %(why)s.",
                step=error.name,
                why=error.detail or PLAN_ERRORS.get(error.error, error.error),
            )
            return vals
        vals["state"] = "pending"
        to_open, _blocked = planning.route([(step["state"], step["kind"]) for step in steps])
        for index in to_open:
            step = steps[index]
            step.update(Step._opening_vals(
                now, step["timeout_hours"], step["escalation_action"], step["reminder_hours"]))
        return vals

    def _submit(self, records=None):
        """Submit (again) these draft requests with their policy's current plan.

        ``records``: ``{request id: document (sudo)}`` when the caller has them
        (see :meth:`_records_map`).
        """
        requests = internal(self)
        if records is None:
            records = requests._records_map()
        for request in self:
            if records[request.id] is None:
                raise UserError(self.env._("The document of %s no longer exists.", request.name))
        if requests.step_ids:
            requests.step_ids.unlink()
        now = fields.Datetime.now()
        for request in requests:
            policy = request.policy_id
            request.write(self._submission_vals(
                policy, records[request.id], request.requester_id,
                request.amount if policy.amount_field_id else None,
                request.policy_snapshot or {}, now))
        self._route(records)

    def _route(self, records):
        """Right after submission: log it on the documents, emit ``approval.requested``,
        open the activities of the steps that are open and approve the requests no
        mandatory step blocks. ``records``: see :meth:`_records_map`."""
        exceptions = self.filtered(lambda r: r.state == "exception")
        routed = self - exceptions
        bodies = {}
        for request in exceptions:
            bodies[request.id] = Markup("<p>%s</p>") % self.env._(
                "Approval request %(name)s needs an administrator: %(reason)s",
                name=request.name, reason=request.exception_reason)
        for request in routed:
            bodies[request.id] = Markup("<p>%s</p>") % self.env._(
                "Approval requested (%(name)s) by %(user)s for “%(action)s”.",
                name=request.name, user=request.requester_id.name, action=request.method_name)
        self._post_many(bodies, records=records)
        if exceptions:
            self._emit_each("approval.requested", [
                (request, {"exception": request.exception_reason}) for request in exceptions
            ], records=records)
        if not routed:
            return
        routed._emit("approval.requested", records=records)
        routed.step_ids.filtered(lambda s: s.state == "pending")._open_activities()
        routed._advance()

    def _advance(self):
        """Open the next steps; approve the requests when no mandatory step is left."""
        to_activate = []
        to_approve = []
        for request in internal(self):
            steps = request.step_ids.sorted(lambda s: (s.sequence, s.id))
            to_open, blocked = planning.route([(step.state, step.kind) for step in steps])
            to_activate += [steps[index].id for index in to_open]
            if not blocked and request.state == "pending":
                to_approve.append(request.id)
        if to_activate:
            internal(self.env["saas.approval.request.step"]).browse(to_activate)._activate()
        for request in self.browse(to_approve):
            request._finalize_approved()

    def _finalize_approved(self):
        self.ensure_one()
        me = internal(self)
        now = fields.Datetime.now()
        record = self._record()
        fingerprint = self.env["saas.approval.policy"]._compute_fingerprint(
            record, self.fingerprint_paths or []
        ) if record is not None else False
        me.write({
            "state": "approved",
            "decided_at": now,
            "fingerprint_approved": fingerprint,
            "turnaround_hours": hours_between(self.submitted_at, now),
        })
        self._post(Markup("<p>%s</p>") % self.env._(
            "Approval request %(name)s approved: “%(action)s” can now be completed.",
            name=self.name, action=self.method_name))
        self._emit("approval.approved")
        if me.policy_id.execute_on_approval and record is not None:
            self._execute_action(record)

    def _execute_action(self, record):
        """Run the guarded action as the requester once approved."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                getattr(record.with_user(self.requester_id), self.method_name)()
        except Exception as exc:
            _logger.info("Automatic run of %s on %s failed: %s", self.method_name, self.res_name, exc)
            self._post(Markup("<p>%s</p>") % self.env._(
                "The approved action could not be completed automatically: %s", exc))

    def _finalize_rejected(self, reason, decided_by=None):
        self.ensure_one()
        me = internal(self)
        now = fields.Datetime.now()
        open_steps = me.step_ids.filtered(lambda s: s.state in ("waiting", "pending"))
        open_steps._close_activities()
        open_steps.write({"state": "cancelled", "next_check_at": False})
        me.write({
            "state": "rejected",
            "decided_at": now,
            "reject_reason": reason,
            "turnaround_hours": hours_between(self.submitted_at, now),
        })
        self._post(Markup("<p>%s</p>") % self.env._(
            "Approval request %(name)s rejected by %(user)s: %(reason)s. The document was not "
            "changed and can be edited and submitted again.",
            name=self.name, user=decided_by.name if decided_by else self.env._("the system"),
            reason=reason))
        self._emit("approval.rejected", {"reason": reason,
                                         "decided_by": decided_by.id if decided_by else None})

    def _close(self, state, reason):
        """Cancel (or otherwise close) requests without a human decision."""
        for request in self:
            me = internal(request)
            steps = me.step_ids.filtered(lambda s: s.state in ("waiting", "pending"))
            steps._close_activities()
            steps.write({"state": "cancelled", "next_check_at": False})
            me.write({"state": state, "cancel_reason": reason, "decided_at": fields.Datetime.now()})
            request._post(Markup("<p>%s</p>") % self.env._(
                "Approval request %(name)s closed: %(reason)s", name=request.name, reason=reason))

    # ---------------------------------------------------------- notification
    def _notification_action(self, result=None):
        messages = []
        for request in self:
            if request.state == "exception":
                messages.append(self.env._(
                    "%(doc)s: approval request %(name)s cannot be routed and waits for an "
                    "administrator (%(reason)s).",
                    doc=request.res_name, name=request.name, reason=request.exception_reason))
            else:
                messages.append(self.env._(
                    "%(doc)s: approval required (%(name)s), waiting for %(who)s.",
                    doc=request.res_name, name=request.name,
                    who=request.current_step_names or self.env._("approvers")))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Approval required"),
                "message": "\n".join(messages),
                "type": "warning",
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
            "saas_approval": {
                "blocked": True,
                "request_ids": self.ids,
                "states": {str(r.id): r.state for r in self},
                "partial_result": result if isinstance(result, bool | int | str) else None,
            },
        }

    # ----------------------------------------------------------------- buttons
    def _my_step(self):
        self.ensure_one()
        steps = self.step_ids._decidable_by_me()
        if not steps:
            raise AccessError(self.env._("You cannot decide on %s.", self.name))
        return steps.sorted(lambda s: (s.kind != planning.MANDATORY, s.sequence, s.id))[0]

    def action_approve(self, comment=None):
        for request in self:
            request._my_step()._decide("approve", comment=comment)
        return True

    def action_reject(self, reason=None):
        """Reject with ``reason``; without a reason, open the reason wizard."""
        self.ensure_one()
        step = self._my_step()
        if reason:
            step._decide("reject", comment=reason)
            return True
        return step._open_reject_wizard()

    def action_retry(self):
        """Re-route a request of the exception queue with the current configuration."""
        if not self.env.user.has_group("saas_workflow_approvals.group_approval_manager"):
            raise AccessError(self.env._("Only approval managers can re-route requests."))
        for request in self.filtered(lambda r: r.state == "exception"):
            me = internal(request)
            me.write({"exception_reason": False, "state": "draft",
                      "policy_snapshot": request.policy_id._snapshot()})
            me._submit()
        return True

    def action_cancel(self):
        is_manager = self.env.user.has_group("saas_workflow_approvals.group_approval_manager")
        for request in self:
            if request.state not in ("draft", "pending", "exception"):
                raise UserError(self.env._("Only open requests can be cancelled."))
            if not is_manager and request.requester_id != self.env.user:
                raise AccessError(self.env._("Only the requester or a manager can cancel."))
            request._close("cancelled", self.env._("Cancelled by %s.", self.env.user.name))
        return True

    def action_open_document(self):
        self.ensure_one()
        return record_form(self.res_model, self.res_id)
