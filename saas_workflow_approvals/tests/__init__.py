from . import (
    test_anomaly_step,
    test_business_models,
    test_delegation,
    test_escalation,
    test_exception_access,
    test_freeze_fingerprint,
    test_guard,
    test_quorum,
    test_rpc,
    test_sod,
    test_tour,
)
