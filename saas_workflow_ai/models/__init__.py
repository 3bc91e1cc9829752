from . import (
    ai_anomaly,
    ai_decision,
    ai_profile,
    ai_profile_output,
    ai_provider,
    demo_story,
    res_company,
    res_config_settings,
    sla,
    template_support,
    workflow_subscription,
)

# isort: split
# Extends saas.sla.status and saas.ai.decision.line, defined above.
from . import operations_kpi
