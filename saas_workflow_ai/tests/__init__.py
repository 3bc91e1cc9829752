from . import (
    test_ai_classification,
    test_ai_failures,
    test_ai_local,
    test_ai_review,
    test_ai_summary,
    test_anomaly,
    test_operations_kpi,
    test_sla,
    test_template_support,
)
