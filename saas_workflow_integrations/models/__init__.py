# isort: skip_file
# Order matters: a model must be defined before the models that inherit it.
from . import secret_mixin
from . import integration_mapping
from . import webhook_endpoint
from . import webhook_attempt
from . import endpoint_health
from . import inbound_source
from . import inbound_message
from . import subscription
from . import delivery
from . import res_config_settings
from . import demo_story
from . import operations_kpi
