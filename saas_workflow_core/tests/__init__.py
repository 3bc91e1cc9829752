from . import (
    test_access,
    test_concurrency,
    test_dispatch,
    test_operations_kpi,
    test_outbox,
    test_source_rules,
    test_sources,
    test_templates,
    test_views,
)
