from . import (
    test_inbound,
    test_operations_kpi,
    test_webhook_admin,
    test_webhook_committed,
    test_webhook_delivery,
)
