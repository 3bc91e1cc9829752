from . import (
    ai_anomaly,
    ai_decision,
    ai_profile,
    ai_profile_output,
    ai_provider,
    res_company,
    res_config_settings,
    sla,
    template_support,
    workflow_subscription,
)
