"""What the Odoo benchmarks share: where Odoo is, and their throwaway databases.

The benchmarks run with Odoo's Python (``ODOO_HOME`` / ``/opt/odoo18`` by default) against the
PostgreSQL server of ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD`` (``localhost``/``5432``/
``odoo``/``odoo`` by default), like the test command.
"""

import os
import subprocess
import sys
from pathlib import Path

ODOO_HOME = os.environ.get("ODOO_HOME", "/opt/odoo18")
sys.path.insert(0, ODOO_HOME)

ROOT = Path(__file__).resolve().parents[2]
ADDONS = f"{ODOO_HOME}/odoo/addons,{ROOT}"
PG = {
    "host": os.environ.get("PGHOST", "localhost"),
    "port": os.environ.get("PGPORT", "5432"),
    "user": os.environ.get("PGUSER", "odoo"),
    "password": os.environ.get("PGPASSWORD", "odoo"),
}
DB_ARGS = [f"--db_host={PG['host']}", f"--db_port={PG['port']}", f"--db_user={PG['user']}",
           f"--db_password={PG['password']}"]
_PG_ENV = dict(os.environ, PGPASSWORD=PG["password"])
_LOADED = {}


def process_cpu_seconds(pids):
    """CPU seconds (user + system) used so far by the processes ``pids`` (Linux /proc)."""
    total = 0.0
    for pid in pids:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def psql(sql, db="postgres"):
    """The first value printed by ``psql -tAc sql`` on ``db``."""
    return subprocess.run(
        ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", db, "-tAc", sql],
        capture_output=True, text=True, env=_PG_ENV, check=False,
    ).stdout.strip()


def install(db, modules):
    """Install ``modules`` (creating ``db`` when it does not exist) with odoo-bin, no demo data."""
    print(f"installing {modules} in database {db} ...", flush=True)
    subprocess.run(
        [sys.executable, f"{ODOO_HOME}/odoo-bin", f"--addons-path={ADDONS}", *DB_ARGS, "-d", db,
         "-i", modules, "--stop-after-init", "--without-demo=all", "--no-http",
         "--max-cron-threads=0", "--log-level=warn"],
        check=True,
    )


def _installed(db, module):
    return psql(f"SELECT state FROM ir_module_module WHERE name = '{module}'", db) == "installed"


def prepare_db(db, create, modules, required=()):
    """Create ``db`` with ``modules``, or check an existing one has ``required`` and install
    the rest of ``modules`` when missing."""
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1"
    if create:
        if exists:
            raise SystemExit(f"database {db} already exists: pass it with --db to reuse it")
        install(db, ",".join(modules))
        return
    if not exists:
        raise SystemExit(f"database {db} does not exist (omit --db to create one)")
    for module in required:
        if not _installed(db, module):
            raise SystemExit(f"database {db} has no {module} module")
    missing = [m for m in modules if m not in required and not _installed(db, m)]
    if missing:
        install(db, ",".join(missing))


def drop_db(db):
    """Drop ``db``, first closing the pooled connections a loaded registry keeps to it."""
    if "odoo.sql_db" in sys.modules:
        sys.modules["odoo.sql_db"].close_db(db)
    subprocess.run(
        ["dropdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "--if-exists", db],
        env=_PG_ENV, check=False,
    )


def load_registry(db):
    """Load Odoo and ``db``'s registry once per process; returns ``(odoo, registry)``."""
    if db not in _LOADED:
        import odoo  # noqa: PLC0415

        odoo.tools.config.parse_config(
            [f"--addons-path={ADDONS}", *DB_ARGS, "-d", db, "--log-level=warn",
             "--max-cron-threads=0"]
        )
        from odoo.modules.registry import Registry  # noqa: PLC0415

        _LOADED[db] = (odoo, Registry(db))
    return _LOADED[db]
