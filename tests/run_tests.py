#!/usr/bin/env python3
"""Run every test of the suite: the Odoo tests of the four addons, then the pure-Python tests.

Usage::

    python3 tests/run_tests.py [--keep-db] [--modules saas_workflow_core,...] [--skip-pytest]

What it does:

1. finds an Odoo 18 installation (``ODOO_HOME``, else ``/opt/odoo18``) and the Python that
   runs it (``ODOO_PYTHON``, else ``/opt/odoo18-venv/bin/python``, else this interpreter),
   and stops with a clear message when there is none;
2. creates a fresh database on the PostgreSQL server given by ``PGHOST``/``PGPORT``/
   ``PGUSER``/``PGPASSWORD`` (defaults ``localhost``/``5432``/``odoo``/``odoo``), installs the
   Community apps the tests exercise (``SW_TEST_DEPENDS``), then installs the four addons
   with ``--test-enable`` so their ``at_install`` and ``post_install`` tests run;
3. runs ``pytest tests/`` with the same Python;
4. prints one closing line ``N passed, N failed`` and exits non-zero when anything failed.

Only the standard library is used here, so any ``python3`` can start it.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = (
    "saas_workflow_core",
    "saas_workflow_integrations",
    "saas_workflow_approvals",
    "saas_workflow_ai",
)
# Community apps installed in the test database so the addons are tested on real hosts.
DEFAULT_DEPENDS = "crm,sale_management,purchase,account,project,hr"
DEFAULT_ODOO_HOME = "/opt/odoo18"
DEFAULT_ODOO_PYTHON = "/opt/odoo18-venv/bin/python"

RESULT_RE = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests")
SKIP_RE = re.compile(r" INFO \S+ \S+: skipped (\S+) : (.*)$")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
LOG_LEVEL_RE = re.compile(r"^\S+ \S+ \d+ (ERROR|CRITICAL) ")


def fail(message):
    print(f"run_tests: {message}", file=sys.stderr)
    sys.exit(2)


def find_odoo():
    home = Path(os.environ.get("ODOO_HOME", DEFAULT_ODOO_HOME))
    odoo_bin = home / "odoo-bin"
    if not odoo_bin.is_file() or not (home / "odoo" / "addons" / "base").is_dir():
        fail(
            f"no Odoo 18 found at {home} (expected {odoo_bin} and {home}/odoo/addons/base).\n"
            "Set ODOO_HOME to the directory of an Odoo 18.0 source tree (the one holding "
            "odoo-bin), and ODOO_PYTHON to the interpreter of its environment."
        )
    python = os.environ.get("ODOO_PYTHON")
    if not python:
        python = DEFAULT_ODOO_PYTHON if Path(DEFAULT_ODOO_PYTHON).exists() else sys.executable
    probe = subprocess.run(
        [python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import odoo.release as r; "
         "print(r.version_info[0])", str(home)],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        fail(
            f"{python} cannot import Odoo from {home}:\n{probe.stderr.strip()[-800:]}\n"
            "Set ODOO_PYTHON to the interpreter of Odoo's environment."
        )
    if probe.stdout.strip() != "18":
        fail(f"{home} is Odoo {probe.stdout.strip()}, the suite needs Odoo 18.0.")
    return home, python


def db_args():
    return [
        f"--db_host={os.environ.get('PGHOST', 'localhost')}",
        f"--db_port={os.environ.get('PGPORT', '5432')}",
        f"--db_user={os.environ.get('PGUSER', 'odoo')}",
        f"--db_password={os.environ.get('PGPASSWORD', 'odoo')}",
    ]


def available_depends(home):
    wanted = os.environ.get("SW_TEST_DEPENDS", DEFAULT_DEPENDS)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    return [n for n in names if (home / "odoo" / "addons" / n / "__manifest__.py").exists()]


def free_port():
    """A free TCP port for Odoo's test HTTP server, so parallel runs never collide on 8069."""
    if os.environ.get("SW_HTTP_PORT"):
        return os.environ["SW_HTTP_PORT"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def run_odoo(python, home, args, log_path):
    """Run odoo-bin, stream its output to a log, and return (rc, error lines, counts)."""
    addons_path = f"{home / 'odoo' / 'addons'},{ROOT}"
    cmd = [python, str(home / "odoo-bin"), f"--addons-path={addons_path}", *db_args(),
           "--stop-after-init", "--no-http", f"--http-port={free_port()}",
           "--max-cron-threads=0", *args]
    errors, counts = [], [0, 0, 0]
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        # Odoo runs in a process group of its own: once it has exited, whatever it left
        # behind (a browser it gave up waiting for keeps our pipe open) is stopped, so the
        # run always ends
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                start_new_session=True)
        threading.Thread(target=_reap_group, args=(proc,), daemon=True).start()
        for line in proc.stdout:
            log.write(line)
            skipped = SKIP_RE.search(line)
            if skipped:
                print(f"run_tests: skipped {skipped.group(1)}: {skipped.group(2)}", flush=True)
            if LOG_LEVEL_RE.match(line):
                errors.append(line.rstrip())
                print(line.rstrip(), flush=True)
            elif " FAIL: " in line or " ERROR: " in line:
                errors.append(line.rstrip())
                print(line.rstrip(), flush=True)
            match = RESULT_RE.search(line)
            if match and "when loading database" in line:
                counts = [int(g) for g in match.groups()]
        rc = proc.wait()
    return rc, errors, counts


def _reap_group(proc):
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def warm_browser():
    """Start the headless browser of the tours once, so that its first start inside the
    tests (which Odoo waits 10 s for) reads its files from a warm cache."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            try:
                subprocess.run([path, "--headless", "--no-sandbox", "--disable-gpu",
                                "--dump-dom", "about:blank"], capture_output=True, timeout=60,
                               check=False)
            except subprocess.TimeoutExpired:
                pass
            return


def drop_db(python, home, name):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import psycopg2; c = psycopg2.connect(dbname='postgres', host=sys.argv[2],"
        " port=sys.argv[3], user=sys.argv[4], password=sys.argv[5]); c.autocommit = True;"
        "c.cursor().execute('DROP DATABASE IF EXISTS \"%s\"' % sys.argv[6])"
    )
    subprocess.run(
        [python, "-c", code, str(home), os.environ.get("PGHOST", "localhost"),
         os.environ.get("PGPORT", "5432"), os.environ.get("PGUSER", "odoo"),
         os.environ.get("PGPASSWORD", "odoo"), name],
        check=False,
    )
    # Odoo keeps a filestore per database
    filestore = Path.home() / ".local" / "share" / "Odoo" / "filestore" / name
    shutil.rmtree(filestore, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-db", action="store_true", help="keep the test database")
    parser.add_argument("--modules", default=",".join(ADDONS), help="addons to install and test")
    parser.add_argument("--skip-pytest", action="store_true")
    parser.add_argument("--skip-odoo", action="store_true")
    parser.add_argument("--test-tags", default=None, help="override Odoo's --test-tags")
    opts = parser.parse_args()

    home, python = find_odoo()
    modules = [m.strip() for m in opts.modules.split(",") if m.strip()]
    log_dir = ROOT / "bench-results"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / "odoo-tests.log"
    log_path.write_text("", encoding="utf-8")

    passed = failed = 0
    problems = []
    started = time.time()
    if not opts.skip_odoo:
        dbname = f"sw_test_{int(time.time())}_{os.getpid()}"
        depends = available_depends(home)
        print(f"run_tests: Odoo at {home}, database {dbname}", flush=True)
        try:
            if depends:
                print(f"run_tests: installing {','.join(depends)} (no tests)", flush=True)
                rc, errors, _ = run_odoo(
                    python, home, ["-d", dbname, "-i", ",".join(depends), "--log-level=warn"],
                    log_path,
                )
                if rc != 0 or errors:
                    problems.append(f"installing {','.join(depends)} failed (rc={rc})")
            if not problems:
                warm_browser()
                print(f"run_tests: installing and testing {','.join(modules)}", flush=True)
                tags = opts.test_tags or ",".join(f"/{m}" for m in modules)
                rc, errors, counts = run_odoo(
                    python, home,
                    ["-d", dbname, "-i", ",".join(modules), "--test-enable",
                     f"--test-tags={tags}", "--log-level=info"],
                    log_path,
                )
                n_failed = counts[0] + counts[1]
                passed += counts[2] - n_failed
                failed += n_failed
                if rc != 0 or errors:
                    if not n_failed:
                        failed += 1
                    problems.append(f"Odoo tests: rc={rc}, {len(errors)} error lines")
                if counts[2] == 0:
                    problems.append("Odoo ran no test")
                    failed += 1
                print(f"run_tests: Odoo tests: {counts[2]} run, {counts[0]} failed, "
                      f"{counts[1]} errors", flush=True)
        finally:
            if not opts.keep_db:
                drop_db(python, home, dbname)
            else:
                print(f"run_tests: kept database {dbname}")

    if not opts.skip_pytest:
        print("run_tests: pure-Python tests (pytest tests/)", flush=True)
        report = log_dir / "pytest.txt"
        proc = subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests")],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )
        report.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="", flush=True)
        tail = proc.stdout.strip().splitlines()[-1:] or [""]
        n_pass = re.search(r"(\d+) passed", tail[0])
        n_fail = re.search(r"(\d+) failed", tail[0])
        n_err = re.search(r"(\d+) error", tail[0])
        passed += int(n_pass.group(1)) if n_pass else 0
        failed += (int(n_fail.group(1)) if n_fail else 0) + (int(n_err.group(1)) if n_err else 0)
        if proc.returncode != 0:
            problems.append(f"pytest exited {proc.returncode}")
            if not (n_fail or n_err):
                failed += 1

    print(f"run_tests: log in {log_path}, {time.time() - started:.0f} s")
    for problem in problems:
        print(f"run_tests: {problem}")
    print(f"{passed} passed, {failed} failed")
    return 1 if (failed or problems) else 0


if __name__ == "__main__":
    sys.exit(main())
