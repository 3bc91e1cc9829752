from . import (
    base_automation,
    delivery,
    event,
    event_type,
    ir_actions_server,
    res_config_settings,
    subscription,
    workflow,
    workflow_template,
)
