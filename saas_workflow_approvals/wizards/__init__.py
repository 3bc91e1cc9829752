from . import reject_wizard
