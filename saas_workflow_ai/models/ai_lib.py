"""Thin adapters between the models and the pure libraries in ``../lib``.

All calls to ``lib.redaction``, ``lib.calibration``, ``lib.local_model`` and
``lib.anomaly`` go through here, so the models do not depend on their exact
signatures.  The local model library is imported only when it is used.
"""

import importlib


def _lib(name):
    return importlib.import_module("odoo.addons.saas_workflow_ai.lib.%s" % name)


# ---------------------------------------------------------------------- redaction
def redact(text, names=()):
    """Return (redacted text, number of redactions)."""
    if not text:
        return text or "", 0
    redaction = _lib("redaction")
    result = redaction.redact(text, names=list(names))
    if isinstance(result, tuple):
        redacted, found = result[0], result[1]
    else:
        redacted = getattr(result, "text", result)
        found = getattr(result, "findings", getattr(result, "count", 0))
    count = found if isinstance(found, int) else len(found or ())
    return redacted, count


# ---------------------------------------------------------------------- calibration
def fit_temperature(confidences, correct):
    return float(_lib("calibration").fit_temperature(list(confidences), list(correct)))


def apply_temperature(confidence, temperature):
    return float(_lib("calibration").apply_temperature(confidence, temperature))


def ece(confidences, correct, n_bins=15):
    if not confidences:
        return 0.0
    return float(_lib("calibration").ece(list(confidences), list(correct), n_bins=n_bins))


def threshold_for_precision(confidences, correct, target):
    value = _lib("calibration").threshold_for_precision(list(confidences), list(correct), target)
    return None if value is None else float(value)


# ---------------------------------------------------------------------- local model
def local_train(texts, labels):
    local_model = _lib("local_model")
    model = local_model.LocalTextClassifier()
    model.fit(list(texts), list(labels))
    return model.to_bytes()


def local_load(blob):
    return _lib("local_model").LocalTextClassifier.from_bytes(blob)


def local_predict(model, text, allowed):
    """Distribution over ``allowed`` labels, renormalized (unknown labels get 0)."""
    proba = model.predict_proba([text])[0]
    classes = [str(c) for c in model.classes_]
    dist = dict.fromkeys(allowed, 0.0)
    for label, p in zip(classes, proba):
        if label in dist:
            dist[label] += float(p)
    total = sum(dist.values())
    if total <= 0:
        return {label: 1.0 / len(allowed) for label in allowed}
    return {label: p / total for label, p in dist.items()}


# ---------------------------------------------------------------------- anomaly
def anomaly_score(history, value, threshold):
    """(score, explanation, flagged) of ``value`` against ``history``."""
    anomaly = _lib("anomaly")
    result = anomaly.score(list(history), value, threshold=threshold)
    if isinstance(result, tuple):
        return float(result[0]), str(result[1]), bool(result[2])
    return float(result.score), str(result.explanation), bool(result.flagged)
