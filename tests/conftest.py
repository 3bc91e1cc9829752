"""Make each addon's odoo-free ``lib`` package importable without Odoo.

Each addon directory is registered as a bare package whose ``__init__`` is *not*
executed, so ``from saas_workflow_core.lib import backoff`` works while the
addon's models (which need Odoo) are never imported.
"""

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = (
    "saas_workflow_core",
    "saas_workflow_approvals",
    "saas_workflow_ai",
    "saas_workflow_integrations",
)

for _addon in ADDONS:
    if _addon not in sys.modules:
        _pkg = types.ModuleType(_addon)
        _pkg.__path__ = [str(ROOT / _addon)]
        sys.modules[_addon] = _pkg
