from . import secret_wizard
