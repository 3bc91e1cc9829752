from . import template_wizard
