from . import (
    base_automation,
    delivery,
    demo_story,
    event,
    event_type,
    ir_actions_server,
    operations_kpi,
    res_config_settings,
    subscription,
    workflow,
    workflow_template,
)
