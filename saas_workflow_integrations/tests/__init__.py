from . import test_inbound, test_webhook_admin, test_webhook_delivery
