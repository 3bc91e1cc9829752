"""End-to-end benchmark of saas_workflow_ai inside Odoo.

Opens a registry on a database with saas_workflow_ai installed (``--db``), or
creates one from scratch with ``project`` and the suite's core and AI addons
(``--create-db NAME``), then measures side by side in one run, on
``project.task`` records whose texts come from a CSV (columns ``text,category``):

1. ticket creation rate without any profile, and with an AI profile whose
   provider is down (creation only writes an outbox event, so it stays fast);
2. local provider (hashing, e5, e5_hashing or cascade embedder) trained from
   already-labeled tasks: classifications/s through the core dispatcher
   (the claimed batch classified at once, then each decision audited, labels
   applied or queued for review, events emitted), the same batch classified by
   the profile alone on a cold cache (the model's share of that time), and
   accuracy on held-out tasks; ``--e5-workers`` sets ``saas_ai_e5_workers``;
3. OpenAI-compatible provider against the loopback fake server with a fixed
   latency: classifications/s through the dispatcher (one worker).

Everything runs in one transaction that is rolled back at the end.

    python tests/bench/bench_ai_odoo.py --create-db bench_ai \
        --csv /work/shared/data/banking77/train.csv [--train 1500] [--tickets 300]
"""

import argparse
import csv
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ODOO_HOME = os.environ.get("ODOO_HOME", "/opt/odoo18")
sys.path.insert(0, ODOO_HOME)
sys.path.insert(0, str(ROOT / "saas_workflow_ai" / "tests"))

import benchlib  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402

import odoo  # noqa: E402

DB_ARGS = ["--db_host=localhost", "--db_user=odoo", "--db_password=odoo"]
ADDONS = "--addons-path=%s/odoo/addons,%s" % (ODOO_HOME, ROOT)


def create_db(name):
    """Create ``name`` from scratch with project and the suite's core and AI addons."""
    env = dict(os.environ, PGPASSWORD="odoo")
    subprocess.run(["dropdb", "-h", "localhost", "-U", "odoo", "--if-exists", name], env=env,
                   check=True)
    subprocess.run(
        [sys.executable, os.path.join(ODOO_HOME, "odoo-bin"), ADDONS, "-d", name, *DB_ARGS,
         "-i", "project,saas_workflow_core,saas_workflow_ai", "--without-demo=all",
         "--stop-after-init", "--no-http", "--log-level=warn"],
        check=True,
    )


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return [(r["text"], r["category"]) for r in csv.DictReader(handle)]


def make_profile(env, project, provider, labels, tags):
    field = env["ir.model.fields"]._get
    return env["saas.ai.profile"].create(
        {
            "name": "Bench %s" % provider.name,
            "model_id": env["ir.model"]._get_id("project.task"),
            "provider_id": provider.id,
            "allow_external": True,
            "mode": "auto",
            "confidence_threshold": 0.8,
            "filter_domain": "[('project_id', '=', %d)]" % project.id,
            "allowed_field_ids": [(6, 0, [field("project.task", "name").id])],
            "input_field_ids": [(6, 0, [field("project.task", "name").id])],
            "output_ids": [
                (0, 0, {
                    "name": "category",
                    "field_id": field("project.task", "tag_ids").id,
                    "label_ids": [
                        (0, 0, {"name": label, "value_ref": "project.tags,%d" % tags[label].id})
                        for label in labels
                    ],
                })
            ],
        }
    )


def timed_create(env, project, texts):
    Task = env["project.task"].with_context(tracking_disable=True, mail_create_nolog=True)
    t0 = time.perf_counter()
    tasks = Task.browse()
    for text in texts:
        tasks |= Task.create({"name": text, "project_id": project.id})
    env.flush_all()
    return tasks, time.perf_counter() - t0


def helper_cpu_seconds():
    """CPU seconds of the e5 helper processes of this process (Linux)."""
    from odoo.addons.saas_workflow_ai.lib import local_model  # noqa: PLC0415

    return benchlib.process_cpu_seconds(local_model.helper_pids())


def cpu_seconds():
    """CPU seconds of this process and its e5 helpers (the database server excluded)."""
    return time.process_time() + helper_cpu_seconds()


def timed_dispatch(env):
    Delivery = env["saas.workflow.delivery"]
    t0 = time.perf_counter()
    total = 0
    while True:
        result = Delivery._dispatch(limit=200)
        total += result["done"] + result["failed"] + result["dead"]
        if not result["claimed"] and not result["routed"]:
            break
    env.flush_all()
    return total, time.perf_counter() - t0


def run(env, args):
    rows = read_rows(args.csv)
    random.Random(0).shuffle(rows)
    labels = sorted({c for _t, c in rows})
    train, test = rows[: args.train], rows[args.train : args.train + args.tickets]
    env.company.saas_ai_allow_external = True
    Tag = env["project.tags"]
    tags = {label: Tag.create({"name": "bench:%s" % label}) for label in labels}
    history = env["project.project"].create({"name": "Bench history"})
    Task = env["project.task"].with_context(tracking_disable=True, mail_create_nolog=True)
    for text, label in train:
        Task.create({"name": text, "project_id": history.id, "tag_ids": [(6, 0, tags[label].ids)]})
    print("database %s: %d labeled tasks, %d test tickets, %d labels"
          % (env.cr.dbname, len(train), len(test), len(labels)))

    # 1. creation rate, without and with a profile whose provider is down
    plain = env["project.project"].create({"name": "Bench plain"})
    _tasks, plain_s = timed_create(env, plain, [t for t, _c in test])
    down = env["saas.ai.provider"].create({
        "name": "down", "provider_type": "openai", "base_url": "http://127.0.0.1:9/v1",
        "model_name": "none", "max_retries": 0, "timeout": 1,
    })
    down_project = env["project.project"].create({"name": "Bench down"})
    make_profile(env, down_project, down, labels, tags)
    _tasks, down_s = timed_create(env, down_project, [t for t, _c in test])
    print("create: %.0f tickets/s without profile, %.0f tickets/s with a profile whose "
          "provider is down (classification deferred to the dispatcher)"
          % (len(test) / plain_s, len(test) / down_s))
    _n, _s = timed_dispatch(env)  # drain the failures of the down provider

    # 2. local provider through the dispatcher
    local = env["saas.ai.provider"].create(
        {"name": "local", "provider_type": "local", "local_embedder": args.embedder}
    )
    local_project = env["project.project"].create({"name": "Bench local"})
    profile = make_profile(env, local_project, local, labels, tags)
    t0 = time.perf_counter()
    profile.action_retrain()
    train_s = time.perf_counter() - t0
    tasks, _create_s = timed_create(env, local_project, [t for t, _c in test])
    model = profile.output_ids[:1]._load_local_model()
    if args.embedder != "hashing":  # engine and helper processes started
        from odoo.addons.saas_workflow_ai.lib import local_model  # noqa: PLC0415

        local_model.E5Embedder().transform(["warm up %d" % i for i in range(8)])
    model.clear_cache()
    cpu0 = cpu_seconds()
    count, local_s = timed_dispatch(env)
    dispatch_cpu = cpu_seconds() - cpu0
    model.clear_cache()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    for start in range(0, len(tasks), 200):
        profile._prefetch_local(tasks[start : start + 200])
    batch_s = time.perf_counter() - t0
    batch_cpu = cpu_seconds() - cpu0
    decisions = env["saas.ai.decision"].search([("profile_id", "=", profile.id)])
    expected = {task.id: label for task, (_t, label) in zip(tasks, test)}
    correct = sum(1 for d in decisions if d.line_ids[:1].label == expected.get(d.res_id))
    applied = len(decisions.filtered(lambda d: d.state == "applied"))
    print("local/%s (%d e5 processes): trained on %d tasks in %.1f s; %d tickets classified "
          "through the dispatcher at %.1f tickets/s, %.2f CPU ms/ticket in Odoo's process and "
          "its helpers (decisions, labels, events included); the profile's batch "
          "classification alone: %.1f tickets/s, %.2f CPU ms/ticket; accuracy %.3f; "
          "auto-applied %.1f %%; load average %.1f"
          % (args.embedder, args.e5_workers, len(train), train_s, count, count / local_s,
             1000 * dispatch_cpu / max(count, 1), len(tasks) / batch_s,
             1000 * batch_cpu / len(tasks), correct / max(len(decisions), 1),
             100.0 * applied / max(len(decisions), 1), os.getloadavg()[0]))

    # 3. OpenAI-compatible provider, loopback server with fixed latency
    server = FakeOpenAIServer(latency=args.llm_latency).start()
    try:
        llm = env["saas.ai.provider"].create({
            "name": "loopback", "provider_type": "openai", "base_url": server.base_url,
            "model_name": "fake-model", "max_retries": 0, "timeout": 10,
        })
        llm_project = env["project.project"].create({"name": "Bench llm"})
        make_profile(env, llm_project, llm, labels[:20], tags)
        _tasks, _s = timed_create(env, llm_project, [t for t, _c in test[: args.llm_tickets]])
        count, llm_s = timed_dispatch(env)
        print("llm (%d ms latency): %d tickets classified through the dispatcher at %.2f "
              "tickets/s (one worker)" % (args.llm_latency * 1000, count, count / llm_s))
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="existing database with saas_workflow_ai installed")
    parser.add_argument("--create-db", help="create this database (project, core and AI addons) first")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--llm-tickets", type=int, default=30)
    parser.add_argument("--llm-latency", type=float, default=0.2)
    parser.add_argument(
        "--embedder", default="cascade", choices=["hashing", "e5", "e5_hashing", "cascade"]
    )
    parser.add_argument("--e5-workers", type=int, default=2, help="saas_ai_e5_workers")
    args = parser.parse_args()
    if not (args.db or args.create_db):
        sys.exit("give --db or --create-db")
    name = args.db or args.create_db
    if args.create_db:
        create_db(name)
    odoo.tools.config.parse_config([ADDONS, "-d", name, *DB_ARGS, "--log-level=warn"])
    odoo.tools.config["saas_ai_e5_workers"] = args.e5_workers
    logging.getLogger("httpx").setLevel(logging.WARNING)
    registry = odoo.modules.registry.Registry(name)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        try:
            run(env, args)
        finally:
            cr.rollback()


if __name__ == "__main__":
    main()
