from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestAnomaly(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.vendor = cls.env["res.partner"].create({"name": "Steady Supplies"})
        cls.product = cls.env["product.product"].create(
            {"name": "Paper box", "type": "consu", "supplier_taxes_id": [(5, 0, 0)],
             "taxes_id": [(5, 0, 0)]}
        )
        field = cls.env["ir.model.fields"]._get
        cls.rule = cls.env["saas.ai.anomaly.rule"].create(
            {
                "name": "Purchases of the test vendor",
                "kind": "purchase",
                "model_id": cls.env["ir.model"]._get_id("purchase.order"),
                "domain": "[('partner_id', '=', %d)]" % cls.vendor.id,
                "amount_field_id": field("purchase.order", "amount_untaxed").id,
                "group_field_id": field("purchase.order", "partner_id").id,
                "threshold": 3.5,
                "min_history": 5,
            }
        )

    def _order(self, amount):
        return self.env["purchase.order"].create(
            {
                "partner_id": self.vendor.id,
                "order_line": [
                    (0, 0, {"product_id": self.product.id, "product_qty": 1,
                            "price_unit": amount, "taxes_id": [(5, 0, 0)]})
                ],
            }
        )

    def test_flag_with_explanation_and_event(self):
        for amount in (100, 110, 95, 105, 98, 102, 101, 99, 97, 103, 100, 104):
            self._order(amount)
        normal = self._order(108)
        outlier = self._order(380)
        flags = self.rule.action_scan()
        self.assertEqual(flags.mapped("res_id"), outlier.ids)
        flag = flags
        self.assertEqual(flag.res_model, "purchase.order")
        self.assertEqual(flag.state, "open")
        self.assertGreater(flag.score, 3.5)
        self.assertIn("3.8× the median", flag.explanation)
        self.assertIn("last 13 purchases of Steady Supplies", flag.explanation)
        self.assertTrue(self.env["saas.ai.anomaly"]._is_flagged(outlier))
        self.assertFalse(self.env["saas.ai.anomaly"]._is_flagged(normal))
        self.assertIn(outlier.id, self.env["saas.ai.anomaly"]._flagged_ids("purchase.order"))
        event = self.env["saas.workflow.event"].search(
            [("code", "=", "ai.anomaly.flagged"), ("res_id", "=", outlier.id),
             ("res_model", "=", "purchase.order")]
        )
        self.assertEqual(event.payload["anomaly_id"], flag.id)
        # recommendation only: the document itself is untouched
        self.assertEqual(outlier.state, "draft")
        # a second scan does not flag again (watermark), a dismissed flag clears the check
        self.assertFalse(self.rule.action_scan())
        flag.action_dismiss()
        self.assertFalse(self.env["saas.ai.anomaly"]._is_flagged(outlier))

    def test_too_little_history_is_not_judged(self):
        for amount in (100, 101, 99):
            self._order(amount)
        self._order(1000)
        self.assertFalse(self.rule.action_scan())
