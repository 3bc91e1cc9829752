from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


@tagged("post_install", "-at_install")
class TestTemplateDunning(TransactionCase):
    """Collections / dunning end to end on real invoices (needs ``account``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "account.move" not in cls.env:
            cls.skip_all = True
            return
        cls.skip_all = False
        cls.finance = new_test_user(
            cls.env, "dun_finance", groups="base.group_user,account.group_account_manager",
            name="Frank Finance", email="frank.finance@example.com",
        )
        cls.manager = new_test_user(
            cls.env, "dun_manager", groups="base.group_user,account.group_account_manager",
            name="Mona Manager", email="mona.manager@example.com",
        )
        cls.accountant = new_test_user(
            cls.env, "dun_accountant", groups="base.group_user,account.group_account_invoice",
            name="Andy Accountant", email="andy.accountant@example.com",
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Slow Payer Ltd", "email": "ap@slowpayer.example", "is_company": True}
        )
        # other policies (demo data) must not decide for the template's
        cls.env["saas.approval.policy"].search([("model_name", "=", "account.move")]).write(
            {"active": False}
        )
        cls.template = cls.env["saas.workflow.template"]._by_code("dunning")
        cls.set_params(finance_user=cls.finance, escalation_user=cls.manager,
                       credit_note_threshold=500.0, first_reminder_days=3, finance_days=10,
                       escalation_days=20)
        cls.template._activate()
        cls.Run = cls.env["saas.dunning.run"]
        cls.due = fields.Date.today() + timedelta(days=30)

    @classmethod
    def set_params(cls, **values):
        for param in cls.template.param_ids:
            if param.key in values:
                field = "value_user_id" if param.value_type == "user" else f"value_{param.value_type}"
                value = values[param.key]
                param[field] = value.id if param.value_type == "user" else value

    def setUp(self):
        super().setUp()
        if self.skip_all:
            self.skipTest("account is not installed")

    # ------------------------------------------------------------------ helpers
    def make_move(self, move_type="out_invoice", amount=1200.0, due=None, post=True):
        move = self.env["account.move"].create({
            "move_type": move_type,
            "partner_id": self.customer.id,
            "invoice_date": fields.Date.today(),
            "invoice_date_due": due or self.due,
            "invoice_line_ids": [(0, 0, {
                "name": "Subscription", "quantity": 1, "price_unit": amount,
                "tax_ids": [(6, 0, [])],
            })],
        })
        if post:
            move.action_post()
        return move

    def run_cron(self, day):
        with freeze_time(day):
            self.Run._cron_dunning_advance()

    def run_of(self, move):
        return self.Run.search([("res_model", "=", "account.move"), ("res_id", "=", move.id)])

    def activities(self, move, xmlid):
        return self.env["mail.activity"].with_context(active_test=False).search([
            ("res_model", "=", "account.move"), ("res_id", "=", move.id),
            ("activity_type_id", "=", self.env.ref(xmlid).id),
        ])

    def events(self, code, move):
        return self.env["saas.workflow.event"].sudo().search(
            [("code", "=", code), ("res_model", "=", "account.move"), ("res_id", "=", move.id)]
        )

    def reminders(self, move):
        return self.env["mail.message"].search([
            ("model", "=", "account.move"), ("res_id", "=", move.id),
            ("message_type", "=", "comment"), ("subject", "ilike", "payment reminder"),
        ])

    def pay(self, move, day):
        with freeze_time(day):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=move.ids
            ).create({"payment_date": day})._create_payments()

    # -------------------------------------------------------------------- tests
    def test_stages_advance_on_schedule(self):
        move = self.make_move()
        self.assertEqual(move.invoice_date_due, self.due)
        self.run_cron(self.due + timedelta(days=2))
        run = self.run_of(move)
        self.assertEqual((run.stage, run.state, run.days_overdue), ("0", "running", 2))
        self.assertEqual(run.next_action_date, self.due + timedelta(days=3))
        self.assertEqual(run.partner_id, self.customer)
        self.assertFalse(self.reminders(move))

        # stage 1: reminder email from the template's mail template, to the invoice's customer
        self.run_cron(self.due + timedelta(days=3))
        self.assertEqual(run.stage, "1")
        reminder = self.reminders(move)
        self.assertEqual(len(reminder), 1)
        self.assertIn(move.name, reminder.subject)
        self.assertEqual(reminder.partner_ids, self.customer)
        self.assertIn("remains to be paid", str(reminder.body))
        mails = self.env["mail.mail"].sudo().search([("mail_message_id", "=", reminder.id)])
        self.assertEqual(mails.recipient_ids, self.customer)
        self.assertFalse(self.activities(move, "saas_workflow_approvals.mail_activity_type_dunning_followup"))

        # nothing more before the finance delay, then one finance activity
        self.run_cron(self.due + timedelta(days=9))
        self.assertEqual(run.stage, "1")
        self.run_cron(self.due + timedelta(days=10))
        self.assertEqual(run.stage, "2")
        followup = self.activities(move, "saas_workflow_approvals.mail_activity_type_dunning_followup")
        self.assertEqual(len(followup), 1)
        self.assertEqual(followup.user_id, self.finance)
        self.assertEqual(len(self.reminders(move)), 1, "the customer is reminded once")

        # stage 3: escalation activity for the manager and the dunning.escalated event
        self.run_cron(self.due + timedelta(days=19))
        self.assertFalse(self.events("dunning.escalated", move))
        self.run_cron(self.due + timedelta(days=20))
        self.assertEqual(run.stage, "3")
        self.assertEqual(run.escalation_date, self.due + timedelta(days=20))
        escalation = self.activities(move, "saas_workflow_approvals.mail_activity_type_dunning_escalation")
        self.assertEqual(escalation.user_id, self.manager)
        event = self.events("dunning.escalated", move)
        self.assertEqual(len(event), 1)
        self.assertEqual(event.payload["run_id"], run.id)
        self.assertEqual(event.payload["escalated_to"], self.manager.id)
        self.assertEqual(run.activity_record_ids, followup | escalation)

        # the sequence is over: later passes change nothing
        self.run_cron(self.due + timedelta(days=40))
        self.assertEqual(len(self.events("dunning.escalated", move)), 1)
        self.assertEqual(run.state, "running")
        self.assertEqual(len(run.activity_record_ids), 2)
        self.assertTrue(run.message_ids.filtered(lambda m: "Stage 3" in str(m.body)))

    def test_dunning_stops_on_payment(self):
        move = self.make_move()
        self.run_cron(self.due + timedelta(days=3))
        self.run_cron(self.due + timedelta(days=10))
        run = self.run_of(move)
        self.assertEqual(run.stage, "2")
        followup = run.activity_record_ids
        self.assertTrue(followup.active)

        self.pay(move, self.due + timedelta(days=11))
        self.assertIn(move.payment_state, ("paid", "in_payment"))
        settled = self.events("dunning.invoice_settled", move)
        self.assertEqual(len(settled), 1, "the payment emits the template's event")
        self.env["saas.workflow.delivery"]._dispatch()
        self.assertEqual(run.state, "done")
        self.assertEqual(run.closed_date, fields.Date.today())
        self.assertFalse(followup.active, "the open activity is marked done")
        self.assertTrue(followup.date_done)
        self.assertEqual(len(self.events("dunning.closed", move)), 1)

        self.run_cron(self.due + timedelta(days=25))
        self.assertEqual(run.stage, "2")
        self.assertFalse(self.events("dunning.escalated", move))
        self.assertFalse(
            self.activities(move, "saas_workflow_approvals.mail_activity_type_dunning_escalation")
        )

    def test_cron_rechecks_payment_before_acting(self):
        """Even when the payment event has not been delivered yet, nobody who paid is chased."""
        move = self.make_move()
        self.run_cron(self.due + timedelta(days=2))
        run = self.run_of(move)
        self.pay(move, self.due + timedelta(days=2))
        # no dispatch: the event is still pending
        self.run_cron(self.due + timedelta(days=3))
        self.assertEqual((run.state, run.stage), ("done", "0"))
        self.assertFalse(self.reminders(move))
        # the late event then finds nothing to do
        self.env["saas.workflow.delivery"]._dispatch()
        self.assertEqual(len(self.events("dunning.closed", move)), 1)
        self.assertEqual(run.state, "done")

    def test_customer_without_email_gets_finance_follow_up(self):
        self.customer.email = False
        move = self.make_move()
        self.run_cron(self.due + timedelta(days=3))
        run = self.run_of(move)
        self.assertEqual(run.stage, "1")
        self.assertFalse(self.reminders(move))
        activity = self.activities(move, "saas_workflow_approvals.mail_activity_type_dunning_followup")
        self.assertEqual(activity.user_id, self.finance)
        self.assertIn("no email", activity.summary)

    def test_cancelled_invoice_stops_the_run(self):
        move = self.make_move()
        self.run_cron(self.due + timedelta(days=3))
        run = self.run_of(move)
        move.button_draft()
        move.button_cancel()
        self.run_cron(self.due + timedelta(days=10))
        self.assertEqual((run.state, run.stage), ("stopped", "1"))
        self.assertIn("cancel", run.stop_reason)

    def test_credit_note_above_threshold_needs_approval(self):
        refund = self.make_move("out_refund", amount=800.0, post=False)
        result = refund.with_user(self.accountant).action_post()
        self.assertEqual(refund.state, "draft")
        self.assertTrue(result["saas_approval"]["blocked"])
        request = self.env["saas.approval.request"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", refund.id)]
        )
        self.assertEqual(request.state, "pending")
        self.assertEqual(request.policy_id, self.template._template_record("credit_note_policy"))
        self.assertEqual(request.current_approver_ids, self.finance)
        request.with_user(self.finance).action_approve()
        self.assertEqual(request.state, "approved")
        refund.with_user(self.accountant).action_post()
        self.assertEqual(refund.state, "posted")

    def test_credit_note_under_threshold_posts_directly(self):
        refund = self.make_move("out_refund", amount=300.0, post=False)
        refund.with_user(self.accountant).action_post()
        self.assertEqual(refund.state, "posted")
        self.assertFalse(self.env["saas.approval.request"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", refund.id)]
        ))
        # customer invoices are not credit notes: never guarded by this policy
        invoice = self.make_move(amount=5000.0)
        self.assertEqual(invoice.state, "posted")

    def test_bad_schedule_is_refused(self):
        self.set_params(finance_days=2)
        with self.assertRaisesRegex(Exception, "after the previous one"):
            self.template._activate()

    def test_switch_off_keeps_history_and_reactivation_does_not_duplicate(self):
        move = self.make_move()
        self.run_cron(self.due + timedelta(days=3))
        run = self.run_of(move)
        self.assertEqual(run.stage, "1")
        links = self.template.record_ids
        created = {link.key: link._record() for link in links}
        self.assertEqual(
            set(created),
            {"reminder_mail", "payment_source", "settle_subscription", "advance_cron",
             "credit_note_policy"},
        )
        messages = run.message_ids | self.reminders(move)

        self.template.action_deactivate()
        self.assertEqual(self.template.state, "inactive")
        for record in created.values():
            self.assertFalse(record.active, record)
        self.assertFalse(self.template.workflow_id.active)
        # nothing runs while switched off, everything stays
        self.run_cron(self.due + timedelta(days=10))
        self.assertEqual(run.stage, "1")
        self.assertTrue(run.exists())
        self.assertEqual(messages.exists(), messages)
        refund = self.make_move("out_refund", amount=800.0, post=False)
        refund.action_post()
        self.assertEqual(refund.state, "posted", "the credit note policy is off")
        # a payment while switched off is handled by the scheduler once back on
        self.pay(move, self.due + timedelta(days=10))
        self.env["saas.workflow.delivery"]._dispatch()
        self.assertEqual(run.state, "running")

        self.template._activate()
        self.template._activate()
        self.assertEqual(self.template.state, "active")
        self.assertEqual(self.template.record_ids, links)
        for key, record in created.items():
            self.assertTrue(record.active, key)
        self.assertEqual(self.env["ir.cron"].search_count(
            [("code", "=", "model._cron_dunning_advance()")]), 1)
        self.assertEqual(self.env["saas.approval.policy"].search_count(
            [("model_name", "=", "account.move"), ("method_name", "=", "action_post")]), 1)
        self.assertEqual(len(created["credit_note_policy"].step_ids), 1)
        self.assertEqual(self.Run.search_count(
            [("res_model", "=", "account.move"), ("res_id", "=", move.id)]), 1)
        self.run_cron(self.due + timedelta(days=11))
        self.assertEqual(run.state, "done")
        self.assertEqual(run.stage, "1")

    def test_cancelled_payment_resumes_the_sequence(self):
        move = self.make_move()
        self.run_cron(self.due + timedelta(days=3))
        self.run_cron(self.due + timedelta(days=10))
        self.pay(move, self.due + timedelta(days=11))
        self.run_cron(self.due + timedelta(days=12))
        run = self.run_of(move)
        self.assertEqual((run.state, run.stage), ("done", "2"))
        payments = move._get_reconciled_payments()
        self.assertTrue(payments)
        payments.action_draft()
        payments.action_cancel()
        self.assertEqual(move.payment_state, "not_paid")
        self.run_cron(self.due + timedelta(days=20))
        self.assertEqual((run.state, run.stage), ("running", "3"))
        self.assertEqual(len(self.events("dunning.escalated", move)), 1)

    def test_runs_are_seen_in_their_company_only(self):
        other = self.env["res.company"].create({"name": "Dunning Subsidiary"})
        main = self.env.company
        viewer = new_test_user(
            self.env, "dun_viewer", groups="base.group_user,saas_workflow_approvals.group_approval_manager",
            company_id=main.id, company_ids=[(6, 0, main.ids)],
        )
        values = {"res_model": "account.move", "partner_id": self.customer.id}
        mine = self.Run.sudo().create(dict(values, name="Main", res_id=10**9, company_id=main.id))
        theirs = self.Run.sudo().create(
            dict(values, name="Subsidiary", res_id=10**9 + 1, company_id=other.id)
        )
        visible = self.Run.with_user(viewer).search([("id", "in", (mine | theirs).ids)])
        self.assertEqual(visible, mine)

    def test_manual_stop_closes_activities_and_ends_the_sequence(self):
        move = self.make_move()
        self.run_cron(self.due + timedelta(days=3))
        self.run_cron(self.due + timedelta(days=10))
        run = self.run_of(move)
        followup = run.activity_record_ids
        self.assertTrue(followup.active)
        with freeze_time(self.due + timedelta(days=11)):
            run.with_user(self.env.ref("base.user_admin")).action_stop()
        self.assertEqual(run.state, "stopped")
        self.assertIn("stopped by", run.stop_reason)
        self.assertFalse(followup.active)
        self.run_cron(self.due + timedelta(days=20))
        self.assertEqual(run.stage, "2")
        self.assertFalse(self.events("dunning.escalated", move))
