"""Screenshots of the demo database for the README, taken in a real browser session.

Starts Odoo on a demo database (created from scratch with the Community apps and the four
addons with their demo data, or the one given by --db), logs in as the demo user with
Chromium headless driven over the DevTools protocol, and saves PNGs (1440x900) in
docs/screenshots/:

    /opt/odoo18-venv/bin/python tests/tools/take_screenshots.py            # throwaway database
    /opt/odoo18-venv/bin/python tests/tools/take_screenshots.py --db NAME  # existing database

Needs Chromium (``CHROMIUM``, default /usr/bin/chromium) and the ``websocket-client`` package.
Odoo and PostgreSQL are found as by the benchmarks (``ODOO_HOME``, ``PGHOST``... see README).
"""

import argparse
import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import benchlib

APPS = "crm,sale_management,purchase,account,project,hr"
SUITE = "saas_workflow_core,saas_workflow_integrations,saas_workflow_approvals,saas_workflow_ai"
OUT = benchlib.ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1440, 900


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def odoo_bin(db, *args):
    return [sys.executable, f"{benchlib.ODOO_HOME}/odoo-bin", f"--addons-path={benchlib.ADDONS}",
            *benchlib.DB_ARGS, "-d", db, *args]


def create_demo_db(db):
    """The apps first, then the suite: its demo story uses what the apps installed.

    Demo data is loaded by default (``--without-demo`` is left unset: any value given to it,
    even "False", disables demo data)."""
    for modules in (APPS, SUITE):
        print(f"installing {modules} with demo data in {db} ...", flush=True)
        subprocess.run(
            odoo_bin(db, "-i", modules, "--stop-after-init", "--no-http",
                     "--max-cron-threads=0", "--log-level=warn"),
            check=True,
        )


@contextlib.contextmanager
def odoo_server(db, port):
    log = open(Path(tempfile.gettempdir()) / f"screenshots-{db}.log", "w")
    proc = subprocess.Popen(
        odoo_bin(db, f"--http-port={port}", "--http-interface=127.0.0.1", "--max-cron-threads=0",
                 f"--db-filter=^{db}$", "--log-level=warn"),
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/web/login", timeout=60).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if proc.poll() is not None:
                raise SystemExit(f"Odoo stopped, see {log.name}")
            time.sleep(1)
        else:
            raise SystemExit(f"Odoo did not answer on {url}, see {log.name}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Browser:
    """Chromium headless, one page, driven over the DevTools protocol."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="sw-chromium-")
        port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-dev-shm-usage", f"--remote-debugging-port={port}",
             f"--user-data-dir={self.profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                pages = requests.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                page = next(p for p in pages if p["type"] == "page")
                break
            except (requests.ConnectionError, StopIteration, ValueError):
                if time.time() > deadline:
                    raise SystemExit("Chromium did not start") from None
                time.sleep(0.3)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.js(expression):
                return True
            time.sleep(0.25)
        raise RuntimeError(f"timeout waiting for {expression}")

    def goto(self, url):
        self.call("Page.navigate", url=url)
        time.sleep(0.5)
        self.wait_for("document.readyState === 'complete'")

    def wait_idle(self, selector=".o_action_manager .o_view_controller", settle=1.0):
        """The web client is idle: the view is there, nothing loads, the DOM stopped changing."""
        self.wait_for(f"!!document.querySelector({json.dumps(selector)})")
        previous = None
        stable_since = time.time()
        deadline = time.time() + 30
        while time.time() < deadline:
            state = self.js(
                "[document.querySelectorAll('.o_loading_indicator, .o_blockUI, "
                ".o-mail-Thread-loading, .fa-spin').length, document.body.innerHTML.length]"
            )
            if state != previous or state[0]:
                previous = state
                stable_since = time.time()
            elif time.time() - stable_since >= settle:
                return
            time.sleep(0.2)

    def screenshot(self, path):
        # a server started for the screenshots has just built its assets: the web client may
        # announce them as an update ("The page is out of date"); that notice is not the subject
        self.js("document.querySelectorAll('.o_notification_manager .o_notification')"
                ".forEach((n) => n.remove())")
        data = self.call("Page.captureScreenshot", format="png",
                         clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT, "scale": 1})
        path.write_bytes(base64.b64decode(data["data"]))
        print(f"saved {path.relative_to(benchlib.ROOT)}", flush=True)

    def close(self):
        with contextlib.suppress(Exception):
            self.ws.close()
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


class Rpc:
    """JSON-RPC as the demo user, to find the records to show."""

    def __init__(self, url, db, login, password):
        self.url = url
        self.session = requests.Session()
        result = self._post("/web/session/authenticate",
                            {"db": db, "login": login, "password": password})
        if not result.get("uid"):
            raise SystemExit(f"login {login} refused")

    def _post(self, path, params):
        response = self.session.post(f"{self.url}{path}", json={
            "jsonrpc": "2.0", "method": "call", "params": params}, timeout=60)
        payload = response.json()
        if payload.get("error"):
            raise RuntimeError(payload["error"]["data"]["message"])
        return payload["result"]

    def call(self, model, method, *args, **kwargs):
        return self._post("/web/dataset/call_kw",
                          {"model": model, "method": method, "args": list(args), "kwargs": kwargs})

    def search_read(self, model, domain, fields, **kwargs):
        return self.call(model, "search_read", domain, fields, **kwargs)

    def ref(self, xmlid):
        module, name = xmlid.split(".")
        rows = self.search_read("ir.model.data", [("module", "=", module), ("name", "=", name)],
                                ["res_id"], limit=1)
        return rows[0]["res_id"] if rows else None


def login(browser, url, db, user, password):
    browser.goto(f"{url}/web/login?db={db}")
    browser.js(
        "(() => { const f = document.querySelector('form.oe_login_form');"
        f"f.querySelector('#login').value = {json.dumps(user)};"
        f"f.querySelector('#password').value = {json.dumps(password)};"
        "f.submit(); })()"
    )
    time.sleep(1)
    browser.wait_for("location.pathname.startsWith('/odoo')", timeout=60)
    browser.wait_idle(".o_main_navbar")


def shoot_overview(browser, rpc, url):
    """Workflows > Overview, or the Events list where that screen is not installed."""
    root = rpc.ref("saas_workflow_core.menu_root")
    menus = rpc.search_read("ir.ui.menu", [("name", "=", "Overview"), ("id", "child_of", root)],
                            ["action"], limit=1) if root else []
    if menus and menus[0]["action"]:
        action_id = menus[0]["action"].split(",")[1]
        name = "overview"
        # its figures are computed by a scheduled action: compute them now
        try:
            rpc.call("saas.operations.kpi", "action_refresh_all", [])
        except RuntimeError as exc:
            print(f"overview figures not refreshed: {exc}", flush=True)
    else:
        action_id = rpc.ref("saas_workflow_core.action_event")
        name = "events"
    browser.goto(f"{url}/odoo/action-{action_id}")
    browser.wait_idle()
    browser.screenshot(OUT / "overview.png")
    return name


def shoot_approval(browser, rpc, url):
    """The purchase request waiting for the demo user: Approve / Reject on its activity."""
    requests_ = rpc.search_read("saas.approval.request",
                                [("state", "=", "pending"), ("can_decide", "=", True)],
                                ["res_model", "res_id", "name"], order="id", limit=1)
    if not requests_:
        raise SystemExit("no pending approval for the demo user: is this the demo database?")
    request = requests_[0]
    app_action = {"purchase.order": "purchase.purchase_rfq", "sale.order": "sale.action_quotations",
                  "account.move": "account.action_move_out_refund_type"}.get(request["res_model"])
    target = f"action-{app_action}" if app_action else request["res_model"]
    browser.goto(f"{url}/odoo/{target}/{request['res_id']}")
    browser.wait_idle(".o-mail-Activity .o-saas-approval-approve")
    browser.js("document.querySelector('.o-mail-Activity .o-saas-approval-approve')"
               ".closest('.o-mail-Activity').scrollIntoView({block: 'end'})")
    browser.wait_idle(".o-mail-Activity", settle=0.8)
    browser.screenshot(OUT / "approval_activity.png")
    return request["name"]


def shoot_ticket(browser, rpc, url):
    """An automatically classified support ticket past its SLA: the ticket (category applied,
    reassigned, escalation activity) and its AI decision (label, confidence, threshold)."""
    decisions = rpc.search_read("saas.ai.decision",
                                [("res_model", "=", "project.task"), ("state", "=", "applied")],
                                ["id", "record_name", "res_id"], order="id")
    breached = {s["res_id"] for s in rpc.search_read(
        "saas.sla.status", [("res_model", "=", "project.task"), ("state", "=", "breached")],
        ["res_id"])}
    decisions.sort(key=lambda d: d["res_id"] not in breached)
    if not decisions:
        raise SystemExit("no applied AI decision on a ticket in this database")
    decision = decisions[0]
    browser.goto(f"{url}/odoo/action-saas_workflow_ai.action_ai_decision/{decision['id']}")
    browser.wait_idle(".o_form_view")
    browser.screenshot(OUT / "ticket_decision.png")
    task = decision["res_id"]
    browser.goto(f"{url}/odoo/action-project.action_view_all_task/{task}")
    browser.wait_idle(".o_form_view")
    browser.screenshot(OUT / "ticket.png")
    return decision["record_name"]


def shoot_webhooks(browser, rpc, url):
    """The webhook delivery attempts, an endpoint's health, and the dead letter queue."""
    browser.goto(f"{url}/odoo/action-saas_workflow_integrations.action_webhook_attempt")
    browser.wait_idle()
    browser.screenshot(OUT / "webhook_log.png")
    endpoint = rpc.ref("saas_workflow_integrations.demo_endpoint_n8n")
    if endpoint:
        browser.goto(f"{url}/odoo/action-saas_workflow_integrations.action_webhook_endpoint/"
                     f"{endpoint}")
        browser.wait_idle(".o_form_view")
        browser.screenshot(OUT / "endpoint_health.png")
    browser.goto(f"{url}/odoo/action-saas_workflow_core.action_dead_letter")
    browser.wait_idle()
    browser.screenshot(OUT / "dead_letter.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="existing demo database (default: create a throwaway one)")
    parser.add_argument("--keep-db", action="store_true", help="keep the database it creates")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    db = args.db or f"sw_screenshots_{os.getpid()}"
    if args.db:
        if benchlib.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'") != "1":
            raise SystemExit(f"database {db} does not exist")
    else:
        create_demo_db(db)
    OUT.mkdir(parents=True, exist_ok=True)
    browser = None
    try:
        with odoo_server(db, free_port()) as url:
            rpc = Rpc(url, db, args.login, args.password)
            browser = Browser(args.chromium)
            login(browser, url, db, args.login, args.password)
            overview = shoot_overview(browser, rpc, url)
            print(f"overview.png shows: {overview}")
            print(f"approval_activity.png shows: {shoot_approval(browser, rpc, url)}")
            print(f"ticket.png / ticket_decision.png show: {shoot_ticket(browser, rpc, url)}")
            shoot_webhooks(browser, rpc, url)
    finally:
        if browser:
            browser.close()
        if not args.db and not args.keep_db:
            benchlib.drop_db(db)


if __name__ == "__main__":
    main()
