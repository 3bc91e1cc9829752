"""Confidence calibration and the metrics used to judge it.

Pure numpy, no Odoo import.  Two families of tools live here:

* multi-class calibration of a classifier's logits by temperature scaling
  (Guo et al., 2017): ``fit_temperature`` / ``apply_temperature``;
* binary re-calibration of a single confidence number per decision (for
  instance an LLM's confidence on a field) from reviewed outcomes:
  ``fit_confidence_scaler`` returns a :class:`ConfidenceScaler` that maps
  ``logit(p) -> a * logit(p) + b`` (``b = 0`` is temperature scaling on the
  log-odds, free ``b`` is Platt scaling).

And the metrics: accuracy, expected calibration error with 15 equal-width
bins, reliability-diagram data, and the precision/coverage trade-off of a
confidence threshold (``threshold_for_precision``,
``coverage_precision_at``).
"""

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_BINS = 15
_EPS = 1e-12


# ---------------------------------------------------------------------------
# Basic helpers
# ---------------------------------------------------------------------------


def softmax(logits, axis=-1):
    """Numerically stable softmax of an array of logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(logits, axis=-1):
    z = np.asarray(logits, dtype=np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def accuracy(predicted, expected):
    """Share of equal items in two sequences of labels (0.0 on empty input)."""
    p = np.asarray(predicted)
    e = np.asarray(expected)
    if p.shape != e.shape:
        raise ValueError("predicted and expected must have the same length")
    if p.size == 0:
        return 0.0
    return float(np.mean(p == e))


def nll(probs, labels):
    """Mean negative log-likelihood of integer ``labels`` under ``probs`` (n, k)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.shape[0] == 0:
        return 0.0
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))))


def _as_conf_correct(confidences, correct):
    c = np.asarray(confidences, dtype=np.float64).ravel()
    k = np.asarray(correct, dtype=bool).ravel()
    if c.shape != k.shape:
        raise ValueError("confidences and correct must have the same length")
    if c.size and (np.any(c < 0.0) or np.any(c > 1.0) or not np.all(np.isfinite(c))):
        raise ValueError("confidences must be finite numbers in [0, 1]")
    return c, k


# ---------------------------------------------------------------------------
# Temperature scaling (multi-class)
# ---------------------------------------------------------------------------


def _nll_at_beta(logits, labels, beta):
    return -float(np.mean(log_softmax(logits * beta)[np.arange(len(labels)), labels]))


def fit_temperature(logits, labels, *, min_t=0.05, max_t=20.0, tol=1e-6):
    """Temperature ``T`` minimising the NLL of ``softmax(logits / T)``.

    ``logits``: (n, k) array, ``labels``: n integer class indices.  The NLL
    is convex in the inverse temperature, so a bounded golden-section search
    on ``log(1/T)`` finds the optimum.  Returns 1.0 on empty input.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or z.shape[0] != y.shape[0]:
        raise ValueError("logits must be (n, k) and labels of length n")
    if z.shape[0] == 0 or z.shape[1] < 2:
        return 1.0
    lo, hi = math.log(1.0 / max_t), math.log(1.0 / min_t)
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c = b - inv_phi * (b - a)
    d = a + inv_phi * (b - a)
    fc = _nll_at_beta(z, y, math.exp(c))
    fd = _nll_at_beta(z, y, math.exp(d))
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - inv_phi * (b - a)
            fc = _nll_at_beta(z, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + inv_phi * (b - a)
            fd = _nll_at_beta(z, y, math.exp(d))
    beta = math.exp((a + b) / 2.0)
    return float(1.0 / beta)


def apply_temperature(logits, temperature):
    """Class probabilities ``softmax(logits / temperature)``."""
    if not temperature or temperature <= 0:
        raise ValueError("temperature must be > 0")
    return softmax(np.asarray(logits, dtype=np.float64) / float(temperature))


# ---------------------------------------------------------------------------
# Calibration metrics
# ---------------------------------------------------------------------------


def _bin_index(conf, n_bins):
    # Equal-width bins (lo, hi]; 0.0 falls in the first bin.
    idx = np.ceil(conf * n_bins).astype(np.int64) - 1
    return np.clip(idx, 0, n_bins - 1)


def reliability_bins(confidences, correct, n_bins=DEFAULT_BINS):
    """Reliability-diagram data: one dict per equal-width bin.

    Each dict has ``lower``, ``upper``, ``count``, ``confidence`` (mean
    confidence in the bin, None when empty) and ``accuracy`` (None when empty).
    """
    c, k = _as_conf_correct(confidences, correct)
    idx = _bin_index(c, n_bins)
    out = []
    for b in range(n_bins):
        mask = idx == b
        n = int(mask.sum())
        out.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "count": n,
                "confidence": float(c[mask].mean()) if n else None,
                "accuracy": float(k[mask].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(confidences, correct, n_bins=DEFAULT_BINS):
    """ECE: count-weighted mean |accuracy - confidence| over equal-width bins."""
    c, k = _as_conf_correct(confidences, correct)
    if c.size == 0:
        return 0.0
    idx = _bin_index(c, n_bins)
    conf_sum = np.bincount(idx, weights=c, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=k.astype(np.float64), minlength=n_bins)
    return float(np.sum(np.abs(acc_sum - conf_sum)) / c.size)


def top_label(probs):
    """(predicted class index, its probability) for each row of ``probs``."""
    p = np.asarray(probs, dtype=np.float64)
    pred = p.argmax(axis=1)
    return pred, p[np.arange(p.shape[0]), pred]


def classification_report(probs, labels, n_bins=DEFAULT_BINS, target_precision=0.97):
    """Summary metrics of class probabilities against integer ``labels``."""
    pred, conf = top_label(probs)
    y = np.asarray(labels, dtype=np.int64)
    correct = pred == y
    thr = threshold_for_precision(conf, correct, target_precision)
    return {
        "n": int(y.size),
        "accuracy": accuracy(pred, y),
        "ece": expected_calibration_error(conf, correct, n_bins),
        "nll": nll(probs, y),
        "target_precision": target_precision,
        "threshold": thr.threshold,
        "coverage": thr.coverage,
        "precision": thr.precision,
    }


# ---------------------------------------------------------------------------
# Precision / coverage of a confidence threshold
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdResult:
    """Outcome of :func:`threshold_for_precision`.

    ``threshold`` is None when no threshold reaches the target; then
    ``coverage`` is 0.0 and ``precision`` is None.
    """

    threshold: float | None
    precision: float | None
    coverage: float
    n_covered: int
    n_total: int

    @property
    def reached(self):
        return self.threshold is not None


def coverage_precision_at(confidences, correct, threshold):
    """(coverage, precision, n_covered) of the decisions with confidence >= threshold.

    ``precision`` is None when nothing is covered.
    """
    c, k = _as_conf_correct(confidences, correct)
    if c.size == 0:
        return 0.0, None, 0
    mask = c >= threshold
    n = int(mask.sum())
    if not n:
        return 0.0, None, 0
    return n / c.size, float(k[mask].mean()), n


def threshold_for_precision(confidences, correct, target_precision=0.97, *, min_covered=1, z=0.0):
    """Smallest confidence threshold whose covered set has precision >= target.

    Candidate thresholds are the observed confidences; ``conf >= threshold``
    is covered.  The smallest qualifying threshold gives the largest coverage.
    ``min_covered`` rejects thresholds that cover fewer decisions than that.
    With ``z > 0`` the Wilson lower bound of the precision (``z`` standard
    deviations) must reach the target, a margin for the sampling noise of the
    decisions the threshold is picked on.
    """
    c, k = _as_conf_correct(confidences, correct)
    n_total = int(c.size)
    if not n_total:
        return ThresholdResult(None, None, 0.0, 0, 0)
    order = np.argsort(-c, kind="stable")
    cs = c[order]
    hits = np.cumsum(k[order])
    counts = np.arange(1, n_total + 1)
    # Only the last position of a run of equal confidences is a valid cut.
    last_of_tie = np.ones(n_total, dtype=bool)
    last_of_tie[:-1] = cs[:-1] != cs[1:]
    prec = hits / counts
    bound = prec
    if z > 0:
        z2 = z * z
        bound = (
            prec
            + z2 / (2 * counts)
            - z * np.sqrt(prec * (1 - prec) / counts + z2 / (4 * counts**2))
        ) / (1 + z2 / counts)
    ok = last_of_tie & (bound >= target_precision - 1e-12) & (counts >= min_covered)
    if not ok.any():
        return ThresholdResult(None, None, 0.0, 0, n_total)
    i = int(np.nonzero(ok)[0][-1])
    return ThresholdResult(
        threshold=float(cs[i]),
        precision=float(prec[i]),
        coverage=float(counts[i] / n_total),
        n_covered=int(counts[i]),
        n_total=n_total,
    )


# ---------------------------------------------------------------------------
# Binary re-calibration of single confidences (e.g. LLM field confidences)
# ---------------------------------------------------------------------------


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1.0 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class ConfidenceScaler:
    """Maps a raw confidence ``p`` to ``sigmoid(a * logit(p) + b)``.

    ``a = 1/T`` (temperature on the log-odds), ``b`` the Platt offset.
    The identity is ``ConfidenceScaler()``.
    """

    a: float = 1.0
    b: float = 0.0
    method: str = "identity"
    n_samples: int = 0

    def apply(self, confidences):
        """Calibrated confidence(s); a float in gives a float out."""
        scalar = np.ndim(confidences) == 0
        out = _sigmoid(self.a * _logit(confidences) + self.b)
        return float(out) if scalar else out

    @property
    def temperature(self):
        return float("inf") if self.a == 0 else 1.0 / self.a

    def to_dict(self):
        return {"a": self.a, "b": self.b, "method": self.method, "n_samples": self.n_samples}

    @classmethod
    def from_dict(cls, data):
        data = data or {}
        return cls(
            a=float(data.get("a", 1.0)),
            b=float(data.get("b", 0.0)),
            method=str(data.get("method", "identity")),
            n_samples=int(data.get("n_samples", 0)),
        )


def fit_confidence_scaler(
    confidences, was_correct, *, method="temperature", prior_strength=2.0, min_samples=10
):
    """Fit a :class:`ConfidenceScaler` from reviewed decisions.

    ``confidences``: the confidences the provider gave; ``was_correct``: the
    review outcome of each decision.  ``method`` is ``"temperature"`` (only
    the log-odds slope ``a``) or ``"platt"`` (slope and offset).  A Gaussian
    prior pulling towards the identity (``prior_strength`` pseudo
    observations) keeps small or one-sided samples from producing extreme
    maps.  Fewer than ``min_samples`` decisions return the identity.
    """
    if method not in ("temperature", "platt"):
        raise ValueError("method must be 'temperature' or 'platt'")
    c, k = _as_conf_correct(confidences, was_correct)
    n = int(c.size)
    if n < max(1, min_samples):
        return ConfidenceScaler(n_samples=n)
    x = _logit(c)
    y = k.astype(np.float64)
    lam = float(prior_strength)
    params = np.array([1.0, 0.0])
    free = 2 if method == "platt" else 1

    def objective(theta):
        z = theta[0] * x + theta[1]
        # sum of binary NLL, numerically stable
        loss = np.sum(np.logaddexp(0.0, z) - y * z)
        return loss + 0.5 * lam * ((theta[0] - 1.0) ** 2 + theta[1] ** 2)

    f = objective(params)
    for _ in range(100):
        z = params[0] * x + params[1]
        p = _sigmoid(z)
        r = p - y
        w = p * (1.0 - p)
        grad = np.array([np.dot(r, x) + lam * (params[0] - 1.0), np.sum(r) + lam * params[1]])
        hess = np.array(
            [[np.dot(w, x * x) + lam, np.dot(w, x)], [np.dot(w, x), np.sum(w) + lam]]
        )
        grad = grad[:free]
        hess = hess[:free, :free]
        step = np.linalg.solve(hess, grad)
        # damped Newton with backtracking
        t = 1.0
        while True:
            cand = params.copy()
            cand[:free] -= t * step
            fc = objective(cand)
            if fc <= f + 1e-12 or t < 1e-8:
                break
            t *= 0.5
        converged = abs(f - fc) < 1e-10 * max(1.0, abs(f))
        params, f = cand, fc
        if converged or np.max(np.abs(t * step)) < 1e-9:
            break
    a = float(max(params[0], 0.0))  # never invert the ordering of confidences
    b = float(params[1]) if free == 2 else 0.0
    return ConfidenceScaler(a=a, b=b, method=method, n_samples=n)
