from . import workflow
from . import event_type
from . import event
from . import subscription
from . import delivery
from . import ir_actions_server
from . import base_automation
from . import res_config_settings
