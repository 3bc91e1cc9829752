"""Thin adapters between the models and the pure libraries in ``../lib``.

All calls to ``lib.redaction``, ``lib.calibration``, ``lib.local_model`` and
``lib.anomaly`` go through here, so the models do not depend on their exact
signatures.  The local model library is imported only when it is used.
"""

import importlib

from odoo.tools import config


def _lib(name):
    return importlib.import_module("odoo.addons.saas_workflow_ai.lib.%s" % name)


# ---------------------------------------------------------------------- redaction
def redact(text, names=()):
    """Return (redacted text, number of redactions)."""
    if not text:
        return text or "", 0
    result = _lib("redaction").redact(text, names=list(names))
    return result.text, result.count


# ---------------------------------------------------------------------- calibration
def fit_temperature(confidences, correct):
    """Temperature on the log-odds of binary confidences, fitted on reviewed outcomes."""
    scaler = _lib("calibration").fit_confidence_scaler(
        list(confidences), list(correct), method="temperature", min_samples=1
    )
    return 1.0 / scaler.a if scaler.a > 0 else 1e6


def apply_temperature(confidence, temperature):
    calibration = _lib("calibration")
    scaler = calibration.ConfidenceScaler(a=1.0 / temperature if temperature else 1.0)
    return float(scaler.apply(float(confidence)))


def ece(confidences, correct, n_bins=15):
    if not confidences:
        return 0.0
    return float(
        _lib("calibration").expected_calibration_error(
            list(confidences), list(correct), n_bins=n_bins
        )
    )


def threshold_for_precision(confidences, correct, target):
    result = _lib("calibration").threshold_for_precision(list(confidences), list(correct), target)
    return result.threshold


# ---------------------------------------------------------------------- local model
def _local_model():
    """The local model library, with the e5 settings of the server configuration.

    ``saas_ai_e5_threads`` in the Odoo configuration file (default 1 per worker process)
    takes effect when the e5 engine is first loaded in the process;
    ``saas_ai_e5_workers`` (default 1) is the number of single-threaded processes that
    share the e5 step of a batch of tickets (the worker itself and helpers it starts).
    """
    lib = _lib("local_model")
    threads = config.get("saas_ai_e5_threads")
    workers = config.get("saas_ai_e5_workers")
    if threads or workers:
        lib.configure(e5_threads=threads, e5_workers=workers)
    return lib


def local_available(embedder):
    return _local_model().embedder_available(embedder)


def local_train(texts, labels, embedder="hashing"):
    """Train a local classifier; returns (serialized model, info dict)."""
    local_model = _local_model()
    model = local_model.LocalTextClassifier(embedder=embedder)
    model.fit(list(texts), list(labels))
    return model.to_bytes(), dict(model.info, temperature=model.temperature)


def local_load(blob):
    return _local_model().LocalTextClassifier.from_bytes(blob)


def local_unavailable_error():
    return _lib("local_model").LocalModelUnavailable


def local_prefetch(model, texts):
    """Classify ``texts`` in one batch; the one-text calls that follow are answered from
    the model's cache."""
    if texts:
        model.predict_proba(list(texts))


def local_predict(model, text, allowed):
    """Distribution over ``allowed`` labels, renormalized (unknown labels get 0)."""
    proba = model.predict_proba([text])[0]
    dist = dict.fromkeys(allowed, 0.0)
    for label, p in zip(model.classes_, proba):
        if label in dist:
            dist[label] += float(p)
    total = sum(dist.values())
    if total <= 0:
        return {label: 1.0 / len(allowed) for label in allowed}
    return {label: p / total for label, p in dist.items()}


# ---------------------------------------------------------------------- anomaly
def anomaly_score(history, value, threshold, noun="documents"):
    """(score, explanation, flagged) of ``value`` against ``history``."""
    result = _lib("anomaly").score(list(history), value, threshold=threshold, noun=noun)
    return float(result.score), str(result.explanation), bool(result.flagged)
