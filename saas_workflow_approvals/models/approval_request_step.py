import logging
from collections import Counter

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.http import request as http_request
from odoo.osv import expression
from odoo.tools import SQL

from ..lib import delegation as dlg
from ..lib import escalation, planning, sod
from ..lib import quorum as q
from .common import (
    APPROVAL_ACTIVITY_XMLID,
    SUBSCRIBED_KEY,
    check_protected_write,
    hours_between,
    internal,
)

_logger = logging.getLogger(__name__)

STEP_STATES = [
    ("waiting", "Waiting"),
    ("pending", "Pending"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("skipped", "Skipped"),
    ("cancelled", "Cancelled"),
]

PROTECTED_FIELDS = frozenset(
    {
        "request_id", "sequence", "kind", "quorum", "min_approvals", "required_count",
        "rejection_rule", "approver_ids", "escalation_user_ids", "state", "activated_at",
        "deadline", "timeout_hours", "escalation_action", "escalation_target_id",
        "reminder_hours", "last_reminder_at", "reminder_count", "escalated_at", "next_check_at",
        "decided_at", "turnaround_hours", "was_overdue", "decision_ids", "name",
    }
)

def _channel_from_http():
    """Best-effort channel of the current call: web client button or API."""
    try:
        path = http_request.httprequest.path if http_request else ""
    except RuntimeError:
        path = ""
    if path.startswith("/web/"):
        return "button"
    return "api"


class SaasApprovalRequestStep(models.Model):
    _name = "saas.approval.request.step"
    _description = "Approval request step"
    _order = "request_id desc, sequence, id"

    request_id = fields.Many2one("saas.approval.request", required=True, ondelete="cascade",
                                 index=True, readonly=True)
    # precomputed: steps are created with their request, and written in one INSERT
    policy_id = fields.Many2one(related="request_id.policy_id", store=True, index=True,
                                precompute=True)
    company_id = fields.Many2one(related="request_id.company_id", store=True, precompute=True)
    requester_id = fields.Many2one(related="request_id.requester_id", store=True,
                                   precompute=True)
    request_state = fields.Selection(related="request_id.state", string="Request state")
    res_model = fields.Char(related="request_id.res_model")
    res_name = fields.Char(related="request_id.res_name", string="Document")
    amount = fields.Monetary(related="request_id.amount", currency_field="currency_id")
    currency_id = fields.Many2one(related="request_id.currency_id")
    sequence = fields.Integer(readonly=True)
    name = fields.Char(required=True, readonly=True)
    kind = fields.Selection(
        [(planning.MANDATORY, "Mandatory"), (planning.OVERSIGHT, "Oversight")],
        required=True, readonly=True,
    )
    quorum = fields.Selection(
        [(q.ANY, "Any one"), (q.ALL, "All"), (q.N_OF_M, "N of M")], required=True, readonly=True
    )
    min_approvals = fields.Integer(readonly=True)
    required_count = fields.Integer("Approvals needed", readonly=True)
    rejection_rule = fields.Selection(
        [(q.VETO, "One rejection rejects"), (q.UNREACHABLE, "When unreachable")],
        default=q.VETO, required=True, readonly=True,
    )
    approver_ids = fields.Many2many(
        "res.users", "saas_approval_req_step_approver_rel", "step_id", "user_id",
        string="Approvers", readonly=True,
    )
    escalation_user_ids = fields.Many2many(
        "res.users", "saas_approval_req_step_escalation_rel", "step_id", "user_id",
        string="Escalation approvers", readonly=True,
    )
    state = fields.Selection(STEP_STATES, default="waiting", required=True, readonly=True,
                             index=True)
    activated_at = fields.Datetime(readonly=True)
    deadline = fields.Datetime(readonly=True)
    timeout_hours = fields.Float(readonly=True)
    escalation_action = fields.Selection(
        [
            (escalation.NONE, "None"),
            (escalation.REASSIGN, "Reassign"),
            (escalation.NOTIFY, "Notify"),
            (escalation.AUTO_REJECT, "Auto-reject"),
        ],
        default=escalation.NONE, required=True, readonly=True,
    )
    escalation_target_id = fields.Many2one("res.users", string="Escalation approver",
                                           readonly=True)
    reminder_hours = fields.Float(readonly=True)
    last_reminder_at = fields.Datetime(readonly=True)
    reminder_count = fields.Integer(readonly=True)
    escalated_at = fields.Datetime(readonly=True)
    escalated = fields.Boolean(compute="_compute_escalated", store=True, precompute=True)
    next_check_at = fields.Datetime(readonly=True, index="btree_not_null")
    decided_at = fields.Datetime(readonly=True)
    turnaround_hours = fields.Float(readonly=True, aggregator="avg")
    was_overdue = fields.Boolean(readonly=True)
    decision_ids = fields.One2many("saas.approval.decision", "step_id", readonly=True)
    activity_ids = fields.One2many("mail.activity", "saas_approval_step_id", readonly=True)
    can_decide = fields.Boolean(compute="_compute_can_decide", search="_search_can_decide")
    decided_by_text = fields.Char(compute="_compute_decided_by_text", string="Decisions")

    @api.depends("escalated_at")
    def _compute_escalated(self):
        for step in self:
            step.escalated = bool(step.escalated_at)

    @api.depends_context("uid")
    def _compute_can_decide(self):
        mine = self._decidable_by_me()
        for step in self:
            step.can_decide = step in mine

    def _search_can_decide(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on can_decide."))
        positive = (operator == "=") == value
        uid = self.env.uid
        Delegation = self.env["saas.approval.delegation"]
        delegations = Delegation._load()
        today = fields.Date.context_today(self)
        # users who (possibly through a chain) delegate to me, per policy scope
        domains = [["|", ("approver_ids", "in", [uid]), ("escalation_user_ids", "in", [uid])]]
        everyone = dlg.active_map(delegations, today, None)
        if any(d.policy_ids for d in delegations):
            for policy_id in {p for d in delegations for p in d.policy_ids}:
                mapping = dlg.active_map(delegations, today, policy_id)
                users = dlg.delegators_of(uid, mapping)
                if users:
                    domains.append(
                        [("policy_id", "=", policy_id), "|", ("approver_ids", "in", list(users)),
                         ("escalation_user_ids", "in", list(users))]
                    )
        users = dlg.delegators_of(uid, everyone)
        if users:
            domains.append(
                ["|", ("approver_ids", "in", list(users)), ("escalation_user_ids", "in", list(users))]
            )
        domain = expression.AND([
            [("state", "=", "pending"), ("request_id.requester_id", "!=", uid)],
            expression.OR(domains),
        ])
        candidates = self.sudo().search(domain)
        ids = candidates._decidable_by_me().ids
        return [("id", "in" if positive else "not in", ids)]

    def _compute_decided_by_text(self):
        for step in self:
            parts = []
            for d in step.decision_ids.filtered(lambda d: d.decision in ("approve", "reject")):
                who = d.user_id.name
                if d.on_behalf_of_id and d.on_behalf_of_id != d.user_id:
                    who = self.env._("%(user)s on behalf of %(other)s", user=who,
                                     other=d.on_behalf_of_id.name)
                parts.append(f"{d.decision}: {who}")
            step.decided_by_text = "; ".join(parts)

    # --------------------------------------------------------------- protection
    @api.model_create_multi
    def create(self, vals_list):
        check_protected_write(self, {"state": True}, PROTECTED_FIELDS)
        return super().create(vals_list)

    def write(self, vals):
        check_protected_write(self, vals, PROTECTED_FIELDS)
        return super().write(vals)

    def unlink(self):
        check_protected_write(self, {"state": True}, PROTECTED_FIELDS)
        return super().unlink()

    # ------------------------------------------------------------------ helpers
    def _facts(self):
        self.ensure_one()
        decisions = [
            (d.user_id.id, (d.on_behalf_of_id or d.user_id).id)
            for d in self.sudo().decision_ids
            if d.decision in ("approve", "reject")
        ]
        return sod.StepFacts(
            approvers=self.sudo().approver_ids.ids,
            escalation_approvers=self.sudo().escalation_user_ids.ids,
            decisions=decisions,
            is_open=self.state == "pending" and (
                self.request_id.state == "pending"
                or (self.kind == planning.OVERSIGHT and self.request_id.state == "approved")
            ),
        )

    def _other_steps_people(self):
        self.ensure_one()
        people = set()
        for d in self.sudo().request_id.decision_ids:
            if d.step_id != self and d.decision in ("approve", "reject"):
                people.add(d.user_id.id)
                if d.on_behalf_of_id:
                    people.add(d.on_behalf_of_id.id)
        return people

    def _check_sod(self, actor_id, mapping=None):
        """Return the slot ``actor_id`` would decide for, or raise SodViolation."""
        self.ensure_one()
        request = self.sudo().request_id
        if mapping is None:
            mapping = self.env["saas.approval.delegation"]._active_map(request.policy_id.id)
        return sod.check_decision(
            actor_id,
            request.requester_id.id,
            self._facts(),
            other_steps_people=self._other_steps_people(),
            delegators=dlg.delegators_of(actor_id, mapping),
            allow_same_approver=request.policy_id.allow_same_approver,
        )

    def _decidable_by_me(self):
        uid = self.env.uid
        result = self.browse()
        maps = {}
        for step in self.sudo():
            if step.state != "pending":
                continue
            policy_id = step.policy_id.id
            if policy_id not in maps:
                maps[policy_id] = self.env["saas.approval.delegation"]._active_map(policy_id)
            try:
                step._check_sod(uid, maps[policy_id])
            except sod.SodViolation:
                continue
            result |= step
        return self.browse(result.ids)

    @api.model
    def _activity_type(self):
        return self.env["mail.activity.type"].browse(
            self.env["ir.model.data"]._xmlid_to_res_id(APPROVAL_ACTIVITY_XMLID)
        )

    def _activity_target(self):
        """(model id, res id, name) of the record holding the activities: the
        document, else the request."""
        self.ensure_one()
        request = self.request_id
        model = self.env.get(request.res_model)
        if model is not None and "activity_ids" in model._fields:
            return self.env["ir.model"]._get_id(request.res_model), request.res_id, request.res_name
        return self.env["ir.model"]._get_id(request._name), request.id, request.display_name

    def _activity_vals(self, approver, assignee, deadline_date):
        model_id, res_id, res_name = self._activity_target()
        request = self.request_id
        # the summary says who asks (the document is the one the activity sits on); a
        # note, which costs an HTML sanitising per activity, only says on whose behalf a
        # delegate decides
        if self.kind == planning.OVERSIGHT:
            summary = self.env._("Review %(req)s (%(step)s), asked by %(requester)s",
                                 req=request.name, step=self.name,
                                 requester=request.requester_id.name)
        else:
            summary = self.env._("Approve %(req)s (%(step)s), asked by %(requester)s",
                                 req=request.name, step=self.name,
                                 requester=request.requester_id.name)
        note = False
        if assignee != approver:
            note = Markup("<p>%s</p>") % self.env._("On behalf of %s.", approver.name)
        return {
            "res_model_id": model_id,
            "res_id": res_id,
            "activity_type_id": self._activity_type().id,
            "user_id": assignee.id,
            "summary": summary,
            "note": note,
            "date_deadline": deadline_date,
            # stored computed fields of mail.activity, known here: no UPDATE after the INSERT
            "res_name": res_name,
            "date_done": False,
            "user_tz": assignee.tz,
            "automated": True,
            "saas_approval_step_id": self.id,
            "saas_approval_approver_id": approver.id,
        }

    @api.model
    def _opening_vals(self, now, timeout_hours, escalation_action, reminder_hours):
        """What opening a step at ``now`` writes: state, deadline and next check."""
        deadline = escalation.deadline(now, timeout_hours)
        return {
            "state": "pending",
            "activated_at": now,
            "deadline": deadline,
            "next_check_at": escalation.next_check(
                deadline, escalation_action, None, reminder_hours, None, now
            ),
        }

    def _activate(self):
        """Open the steps: deadline, next check and one activity per approver."""
        now = fields.Datetime.now()
        writes = {}
        for step in self:
            vals = self._opening_vals(
                now, step.timeout_hours, step.escalation_action, step.reminder_hours)
            writes.setdefault(tuple(sorted(vals.items())), []).append(step.id)
        for vals, step_ids in writes.items():
            internal(self.browse(step_ids)).write(dict(vals))
        self._open_activities()

    def _open_activities(self):
        """One approval activity per approver of these open steps (to their delegate
        when one is in force), due on the step's deadline."""
        Delegation = self.env["saas.approval.delegation"]
        delegations = Delegation._load()
        today = fields.Date.context_today(self)
        activity_vals = {True: [], False: []}
        maps = {}
        for step in self:
            deadline = step.deadline
            policy_id = step.request_id.policy_id.id
            if policy_id not in maps:
                maps[policy_id] = dlg.active_map(delegations, today, policy_id)
            deadline_date = deadline.date() if deadline else today
            email = bool((step.request_id.policy_snapshot or {}).get("email_approvers", True))
            for approver in step.approver_ids:
                assignee = self.env["res.users"].browse(dlg.resolve(approver.id, maps[policy_id]))
                activity_vals[email].append(step._activity_vals(approver, assignee, deadline_date))
        self._create_activities(activity_vals[True], email=True)
        self._create_activities(activity_vals[False], email=False)

    @api.model
    def _create_activities(self, vals_list, email=True):
        """Create approval activities; without ``email`` the assignment mail is not sent.

        As Odoo does for every activity, each assignee follows the document; the
        subscriptions are made here in one batch per document set and group of
        assignees, instead of one ``message_subscribe`` per assignee and call in
        ``mail.activity.create``.
        """
        if not vals_list:
            return self.env["mail.activity"]
        Activity = internal(self.env["mail.activity"])
        if not email:
            Activity = Activity.with_context(mail_activity_quick_update=True)
        subscribed = self._subscribe_assignees(vals_list)
        activities = Activity.with_context(**{SUBSCRIBED_KEY: subscribed}).create(vals_list)
        return activities.with_context(**{SUBSCRIBED_KEY: False})

    @api.model
    def _subscribe_assignees(self, vals_list):
        """Make the assignees of ``vals_list`` follow the activities' documents.

        Returns the ``(model, res_id, partner_id)`` triples now covered, which
        ``mail.thread.message_subscribe`` then skips (see mail_activity.py).
        """
        models_by_id = {}
        users = self.env["res.users"].sudo().browse(
            {vals["user_id"] for vals in vals_list if vals.get("user_id")})
        # as message_subscribe: archived partners never follow; shared ones get the
        # external subtypes
        partner_of = {user.id: user.partner_id.id for user in users if user.partner_id.active}
        customer_ids = [user.partner_id.id for user in users if user.partner_id.partner_share]
        partners_by_doc = {}
        for vals in vals_list:
            partner_id = partner_of.get(vals.get("user_id"))
            if not partner_id:
                continue
            model_id = vals["res_model_id"]
            if model_id not in models_by_id:
                models_by_id[model_id] = self.env["ir.model"].sudo().browse(model_id).model
            key = (models_by_id[model_id], vals["res_id"])
            partners_by_doc.setdefault(key, set()).add(partner_id)
        groups = {}
        for (model, res_id), partner_ids in partners_by_doc.items():
            groups.setdefault((model, frozenset(partner_ids)), []).append(res_id)
        covered = set()
        for (model, partner_ids), res_ids in groups.items():
            documents = self.env[model].sudo().browse(res_ids)
            if not hasattr(documents, "_message_subscribe"):
                continue
            documents._message_subscribe(
                sorted(partner_ids), customer_ids=[p for p in customer_ids if p in partner_ids])
            covered.update((model, res_id, pid) for res_id in res_ids for pid in partner_ids)
        return frozenset(covered)

    def _close_activities(self, approver=None):
        activities = internal(self.env["mail.activity"]).search(
            [("saas_approval_step_id", "in", self.ids)]
            + ([("saas_approval_approver_id", "=", approver.id)] if approver else [])
        )
        activities.unlink()

    def _open_reject_wizard(self, activity=None):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Reject"),
            "res_model": "saas.approval.reject.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_step_id": self.id,
                "default_activity_id": activity.id if activity else False,
            },
        }

    # ----------------------------------------------------------------- deciding
    def _sod_message(self, code):
        messages = {
            sod.SELF_APPROVAL: self.env._("You cannot decide on your own request."),
            sod.NOT_APPROVER: self.env._(
                "You are not an approver of this step (nor the delegate of one)."
            ),
            sod.ALREADY_DECIDED: self.env._("You have already decided on this step."),
            sod.SAME_APPROVER_STEPS: self.env._(
                "You already decided another step of this request; the policy requires a "
                "different person for each step."
            ),
            sod.STEP_CLOSED: self.env._("This step is not waiting for a decision."),
        }
        return messages.get(code, code)

    def action_approve(self, comment=None):
        for step in self:
            step._decide("approve", comment=comment)
        return True

    def action_reject(self, reason=None):
        self.ensure_one()
        if reason:
            self._decide("reject", comment=reason)
            return True
        return self._open_reject_wizard()

    def action_open_request(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "saas.approval.request",
            "res_id": self.request_id.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }

    def action_open_document(self):
        self.ensure_one()
        return self.request_id.action_open_document()

    def _decide(self, decision, comment=None, channel=None):
        """Record a decision of the current user on this step (all channels end here).

        Segregation of duties is enforced here, server-side: whatever the entry
        point (button, activity, RPC), the same rules apply.
        """
        self.ensure_one()
        if decision not in ("approve", "reject"):
            raise UserError(self.env._("Unknown decision %s.", decision))
        if decision == "reject" and not (comment or "").strip():
            raise UserError(self.env._("A reason is required to reject."))
        actor = self.env.user
        channel = channel or _channel_from_http()
        step = internal(self)
        request = step.request_id
        # serialise concurrent decisions on the same request
        self.env.cr.execute(
            SQL("SELECT id FROM saas_approval_request WHERE id = %s FOR UPDATE", request.id)
        )
        request.invalidate_recordset()
        step.invalidate_recordset()
        try:
            slot = step._check_sod(actor.id)
        except sod.SodViolation as exc:
            message = self._sod_message(exc.code)
            _logger.info("Approval decision refused for uid %s on step %s: %s",
                         actor.id, self.id, exc.code)
            if exc.code in (sod.NOT_APPROVER, sod.SELF_APPROVAL):
                raise AccessError(message) from None
            raise UserError(message) from None
        slot_user = self.env["res.users"].browse(slot)
        now = fields.Datetime.now()
        internal(self.env["saas.approval.decision"]).create({
            "request_id": request.id,
            "step_id": step.id,
            "user_id": actor.id,
            "on_behalf_of_id": slot if slot != actor.id else False,
            "decision": decision,
            "comment": comment or False,
            "channel": channel,
            "decided_at": now,
            "response_hours": hours_between(step.activated_at, now),
        })
        step._close_activities(slot_user)
        decided = step.decision_ids.filtered(lambda d: d.decision in ("approve", "reject"))
        approvals = {(d.on_behalf_of_id or d.user_id).id for d in decided if d.decision == "approve"}
        rejections = {(d.on_behalf_of_id or d.user_id).id for d in decided if d.decision == "reject"}
        outcome = q.evaluate(
            step.approver_ids.ids, step.quorum, approvals, rejections,
            min_approvals=step.min_approvals, rejection_rule=step.rejection_rule,
            escalation_approvers=step.escalation_user_ids.ids,
        )
        who = actor.name if slot == actor.id else self.env._(
            "%(user)s on behalf of %(other)s", user=actor.name, other=slot_user.name)
        verb = {
            ("approve", planning.MANDATORY): self.env._("approved"),
            ("reject", planning.MANDATORY): self.env._("rejected"),
            ("approve", planning.OVERSIGHT): self.env._("reviewed without concern"),
            ("reject", planning.OVERSIGHT): self.env._("raised a concern on"),
        }[(decision, step.kind)]
        body = Markup("<p>%s</p>") % self.env._(
            "%(who)s %(verb)s step “%(step)s” of %(req)s.", who=who, verb=verb, step=step.name,
            req=request.name)
        if comment:
            body += Markup("<p>%s</p>") % comment
        request._post(body)
        if outcome == q.PENDING:
            return True
        was_overdue = bool(step.deadline and now > step.deadline)
        step._close_activities()
        step.write({
            "state": "approved" if outcome == q.APPROVED else "rejected",
            "decided_at": now,
            "turnaround_hours": hours_between(step.activated_at, now),
            "was_overdue": was_overdue,
            "next_check_at": False,
        })
        if step.kind == planning.OVERSIGHT:
            return True
        if outcome == q.REJECTED:
            reasons = [d.comment for d in step.decision_ids if d.decision == "reject" and d.comment]
            request._finalize_rejected("; ".join(reasons) or self.env._("rejected"), actor)
        else:
            request._advance()
        return True

    # --------------------------------------------------------------- escalation
    @api.model
    def _cron_escalate(self, batch_size=500):
        """Cron entry point: process one batch and report progress to the runner."""
        done, remaining = self._escalate_due(limit=batch_size)
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _escalate_due(self, limit=None, now=None):
        """Process every pending step whose next check is due.

        Returns ``(processed, remaining)``. Work is batched: decisions,
        activities and chatter logs are created with one ``create`` per batch.
        """
        now = now or fields.Datetime.now()
        Step = internal(self)
        domain = [("state", "=", "pending"), ("next_check_at", "<=", now)]
        steps = Step.search(domain, order="next_check_at, id", limit=limit)
        if not steps:
            return 0, 0
        steps.fetch(["request_id", "deadline", "escalation_action", "escalated_at",
                     "reminder_hours", "last_reminder_at", "activated_at", "kind"])
        to_escalate, to_remind = [], []
        rescheduled = {}
        for step in steps:
            action = escalation.decide(
                now, step.deadline, step.escalation_action, step.escalated_at,
                step.reminder_hours, step.last_reminder_at, step.activated_at,
            )
            if action == escalation.ESCALATE:
                to_escalate.append(step.id)
            elif action == escalation.REMIND:
                to_remind.append(step.id)
            else:
                rescheduled.setdefault(self._next_check(step), []).append(step.id)
        for next_check, step_ids in rescheduled.items():
            Step.browse(step_ids).write({"next_check_at": next_check})
        if to_escalate:
            Step.browse(to_escalate)._escalate(now)
        if to_remind:
            Step.browse(to_remind)._remind(now)
        remaining = Step.search_count(domain) if limit else 0
        return len(steps), remaining

    @api.model
    def _next_check(self, step):
        return escalation.next_check(
            step.deadline, step.escalation_action, step.escalated_at, step.reminder_hours,
            step.last_reminder_at, step.activated_at,
        ) or False

    def _remind(self, now):
        requests = self.request_id
        bodies = {}
        for step in self:
            step.write({
                "last_reminder_at": now,
                "reminder_count": step.reminder_count + 1,
                "next_check_at": escalation.next_check(
                    step.deadline, step.escalation_action, step.escalated_at,
                    step.reminder_hours, now, step.activated_at,
                ) or False,
            })
            pending = step._pending_slots()
            bodies.setdefault(step.request_id.id, []).append(self.env._(
                "Reminder: step “%(step)s” still waits for %(who)s.", step=step.name,
                who=", ".join(pending.mapped("name")) or "-"))
        for request in requests:
            partners = self.filtered(lambda s, r=request: s.request_id == r)._pending_slots()
            request.sudo().message_post(
                body=Markup("").join(Markup("<p>%s</p>") % b for b in bodies[request.id]),
                partner_ids=partners.partner_id.ids,
                subtype_xmlid="mail.mt_note",
                message_type="comment",
            )

    def _pending_slots(self):
        users = self.env["res.users"]
        for step in self:
            decided = {(d.on_behalf_of_id or d.user_id).id for d in step.decision_ids
                       if d.decision in ("approve", "reject")}
            users |= step.approver_ids.filtered(lambda u, decided=decided: u.id not in decided)
        return users

    def _escalate(self, now):
        """Apply each step's escalation action once, and record it."""
        Decision = internal(self.env["saas.approval.decision"])
        bot = self.env.ref("base.user_root")
        decision_vals, logs = [], {}
        activity_vals = {True: [], False: []}
        rejects, notifications, actions = [], [], {}
        delegations = self.env["saas.approval.delegation"]._load()
        today = fields.Date.context_today(self)
        reassigned = {}
        next_checks = {}
        self.request_id.fetch(["escalation_count", "policy_snapshot", "requester_id", "name",
                               "res_model", "res_id", "policy_id"])
        for step in self:
            request = step.request_id
            action = step.escalation_action
            target = step.escalation_target_id
            note = ""
            if action == escalation.REASSIGN:
                if not target or target == request.requester_id:
                    action = escalation.NOTIFY
                else:
                    mapping = dlg.active_map(delegations, today, request.policy_id.id)
                    assignee = self.env["res.users"].browse(dlg.resolve(target.id, mapping))
                    reassigned.setdefault(target.id, []).append(step.id)
                    email = bool((request.policy_snapshot or {}).get("email_approvers", True))
                    activity_vals[email].append(step._activity_vals(target, assignee, today))
                    note = self.env._("Step “%(step)s” of %(req)s timed out and was reassigned to "
                                      "%(user)s.", step=step.name, req=request.name,
                                      user=target.name)
            if action == escalation.NOTIFY:
                managers = target or step._pending_managers()
                notifications.append((request, step, managers))
                note = self.env._("Step “%(step)s” of %(req)s is overdue; %(who)s notified.",
                                  step=step.name, req=request.name,
                                  who=", ".join(managers.mapped("name")) or self.env._("nobody"))
            elif action == escalation.AUTO_REJECT:
                rejects.append(step)
                note = self.env._("Step “%(step)s” of %(req)s timed out: request rejected "
                                  "automatically.", step=step.name, req=request.name)
            actions[step.id] = action
            next_check = escalation.next_check(
                step.deadline, step.escalation_action, now, step.reminder_hours,
                step.last_reminder_at, step.activated_at,
            ) or False
            next_checks.setdefault(next_check, []).append(step.id)
            decision_vals.append({
                "request_id": request.id,
                "step_id": step.id,
                "user_id": bot.id,
                "decision": "escalate",
                "escalation_action": action,
                "comment": note,
                "channel": "system",
                "decided_at": now,
                "response_hours": hours_between(step.activated_at, now),
            })
            logs.setdefault(request.id, []).append(note)
        Step = internal(self.env["saas.approval.request.step"])
        for target_id, step_ids in reassigned.items():
            Step.browse(step_ids).write({"escalation_user_ids": [(4, target_id)]})
        for next_check, step_ids in next_checks.items():
            Step.browse(step_ids).write({"escalated_at": now, "was_overdue": True,
                                         "next_check_at": next_check})
        counts = {}
        increments = Counter(step.request_id.id for step in self)
        for request in self.request_id:
            counts.setdefault(request.escalation_count + increments[request.id], []).append(
                request.id)
        for count, request_ids in counts.items():
            internal(self.env["saas.approval.request"]).browse(request_ids).write(
                {"escalation_count": count})
        Decision.create(decision_vals)
        self._create_activities(activity_vals[True], email=True)
        self._create_activities(activity_vals[False], email=False)
        requests = self.request_id
        request_logs = {rid: Markup("").join(Markup("<p>%s</p>") % n for n in notes)
                        for rid, notes in logs.items()}
        records = requests._records_map()
        requests._post_many(request_logs, records=records)
        for request, step, managers in notifications:
            if managers:
                request.sudo().message_post(
                    body=Markup("<p>%s</p>") % self.env._(
                        "Step “%(step)s” of %(req)s (%(doc)s) is overdue.", step=step.name,
                        req=request.name, doc=request.res_name),
                    partner_ids=managers.partner_id.ids,
                    subtype_xmlid="mail.mt_note",
                    message_type="comment",
                )
        requests._emit_each("approval.escalated", [
            (step.request_id, {"step": step.name, "step_id": step.id, "action": actions[step.id]})
            for step in self
        ], records=records)
        for step in rejects:
            if step.request_id.state == "pending":
                step._close_activities()
                step.write({"state": "rejected", "decided_at": now,
                            "turnaround_hours": hours_between(step.activated_at, now),
                            "next_check_at": False})
                step.request_id._finalize_rejected(
                    self.env._("No decision within %s hours.", step.timeout_hours)
                )

    def _pending_managers(self):
        """Managers of the approvers who have not decided (needs hr's employee_id)."""
        users = self._pending_slots()
        managers = self.env["res.users"]
        if "employee_id" in users._fields:
            for user in users.sudo():
                manager = user.employee_id.parent_id.user_id if user.employee_id else False
                if manager:
                    managers |= manager
        return managers
