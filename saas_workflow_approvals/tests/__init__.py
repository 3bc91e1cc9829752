from . import test_guard
from . import test_sod
from . import test_delegation
from . import test_quorum
from . import test_escalation
from . import test_freeze_fingerprint
from . import test_exception_access
from . import test_rpc
