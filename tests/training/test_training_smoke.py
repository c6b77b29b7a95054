"""Training end to end on a few hundred rows per source: seconds, not minutes."""

import numpy as np
import pytest

from tests.training.conftest import small_config
from training.offline.datasets import dedupe_and_split, load_moderator_export, match_key
from training.offline.pipeline import ConfigError, TrainingConfig, save_model, train_model
from training.runtime import LABELS, load_model


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    config = small_config(max_rows_per_source=150, word_max_features=5000, char_max_features=10000)
    model = train_model(config, progress=lambda _: None)
    return save_model(model, tmp_path_factory.mktemp("model") / "small.joblib")


def test_small_training_round_trips(small_model):
    reloaded = load_model(small_model.path)
    texts = ["what a lovely idea", "you idiot", "win a free iphone, click here"]
    assert reloaded.score(texts) == small_model.score(texts)
    assert reloaded.version == small_model.version
    assert {"toxicity", "spam"} <= set(reloaded.thresholds)
    meta = reloaded.metadata
    assert meta["sha256"] and meta["library_versions"]["scikit-learn"]
    assert all("sha256" in d and "rows_train" in d for d in meta["training_data"] if d.get("path"))
    # fitting and the evaluation-only sets are timed apart (this config skips the latter)
    assert 0 < meta["fit_seconds"] <= meta["training_seconds"]
    spent = meta["training_seconds"] - meta["fit_seconds"]
    assert meta["external_evaluation_seconds"] == pytest.approx(spent, abs=0.11)
    for row in reloaded.score(texts):
        assert set(row) == set(LABELS) and all(0 <= v <= 1 for v in row.values())


def test_a_saved_model_keeps_its_vocabularies_as_plain_ints_and_scores_the_same(tmp_path):
    """scikit-learn fits vocabularies with numpy integers (one pickled constructor call each); save_model
    stores Python ints, so loading and the pre-load scan read a third of the opcodes. The same scores, to the
    bit."""
    import gzip
    import pickletools
    from io import BytesIO

    from training.offline.pipeline import compact_vocabularies

    model = train_model(small_config(max_rows_per_source=80), progress=lambda _: None)
    vectorizers = [v for _, v in model._payload["features"].transformer_list if hasattr(v, "vocabulary_")]
    assert vectorizers and all(isinstance(i, np.integer) for v in vectorizers for i in v.vocabulary_.values())
    texts = ["what a lovely idea", "you idiot", "win a free iphone, click here", "y o u  m0r0n"]
    before = model.score(texts)
    saved = save_model(model, tmp_path / "m.joblib")
    reloaded = load_model(saved.path)
    assert reloaded.score(texts) == before
    for _, v in reloaded._payload["features"].transformer_list:
        if hasattr(v, "vocabulary_"):
            assert all(type(i) is int for i in v.vocabulary_.values())
    raw = gzip.decompress(saved.path.read_bytes())
    reduces = sum(op.name == "REDUCE" for op, _, _ in pickletools.genops(BytesIO(raw)))
    assert reduces < sum(len(v.vocabulary_) for v in vectorizers) / 10  # was one per vocabulary entry
    compact_vocabularies({})  # a payload without features is left alone


def test_training_is_reproducible(small_model, tmp_path):
    config = TrainingConfig(**small_model.metadata["config"])
    again = train_model(config, progress=lambda _: None)
    texts = ["what a lovely idea", "you idiot"]
    assert np.allclose(
        [list(r.values()) for r in again.score(texts)], [list(r.values()) for r in small_model.score(texts)]
    )


def test_config_rejects_eval_only_and_unknown_fields(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"sources": {"hatecheck": 1.0}}')
    with pytest.raises(ConfigError, match="hatecheck"):
        TrainingConfig.from_file(bad)
    bad.write_text('{"learning_rate": 1}')
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainingConfig.from_file(bad)
    bad.write_text('{"nb_labels": ["toxicity", "rudeness"]}')
    with pytest.raises(ConfigError, match="nb_labels.*rudeness"):
        TrainingConfig.from_file(bad)


def test_split_keeps_normalised_duplicates_together_and_out_of_eval():
    from training.offline.datasets import Corpus

    texts = [
        "You are an IDIOT",
        "you are an 1d10t",
        "Nice article",
        "A perfectly ordinary long sentence here",
    ]
    y = np.zeros((4, len(LABELS)))
    corpus = Corpus("c", None, texts, y, np.ones(4))
    banned = {match_key("A perfectly ordinary long sentence here")}
    split = dedupe_and_split([corpus], banned)
    kept = [t for part in (split.train, split.val, split.test) for t in part[0].texts]
    assert sorted(kept) == ["Nice article", "You are an IDIOT"]
    assert split.dropped["c"] == 2


def test_moderator_export_mapping(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "text,label,label_source,decided_at\nhello,ok,moderator,2026-01-01\n"
        "buy now,spam,moderator,2026-01-01\nyou fool,toxic,moderator,2026-01-02\n"
    )
    corpus = load_moderator_export(path, weight=2.0)
    tox, spam = LABELS.index("toxicity"), LABELS.index("spam")
    assert corpus.y[0, tox] == 0 and corpus.y[0, spam] == 0
    assert corpus.y[1, spam] == 1 and np.isnan(corpus.y[1, tox])
    assert corpus.y[2, tox] == 1 and corpus.weight.tolist() == [2.0, 2.0, 2.0]
    path.write_text("text,label\nhello,maybe\n")
    with pytest.raises(Exception, match="maybe"):
        load_moderator_export(path)


def test_identity_features_are_clipped_with_their_function_words():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    from training.features import LinearHeads
    from training.offline.pipeline import neutralize_identity_features

    docs = ["she is an idiot", "she is kind", "is black", "the muslim idiot", "black idiot", "he is nice"] * 2
    union = FeatureUnion([("word", TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b"))]).fit(
        docs
    )
    heads = LinearHeads(labels=["toxicity", "identity_attack"])
    heads.coef_ = np.ones((len(union.transformer_list[0][1].vocabulary_), 2), dtype=np.float32)
    heads.intercept_ = np.zeros(2)
    neutralize_identity_features(union, heads, {"she", "he", "black", "muslim"})
    coef = dict(zip(union.get_feature_names_out(), heads.coef_[:, 0], strict=True))
    for clipped in ("word__she", "word__she is", "word__is black", "word__the muslim", "word__black"):
        assert coef[clipped] == 0, clipped
    for kept in ("word__idiot", "word__black idiot", "word__an idiot", "word__is", "word__kind"):
        assert coef[kept] == 1, kept
    assert (heads.coef_[:, 1] == 1).all()  # identity_attack keeps them


def test_identity_attack_can_lose_its_identity_features_too():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    from training.features import LinearHeads
    from training.offline.pipeline import neutralize_identity_features

    docs = ["the muslim idiot", "muslims are vermin", "he is nice"] * 2
    union = FeatureUnion([("word", TfidfVectorizer(ngram_range=(1, 2)))]).fit(docs)
    heads = LinearHeads(labels=["toxicity", "identity_attack", "spam"])
    heads.coef_ = np.ones((len(union.transformer_list[0][1].vocabulary_), 3), dtype=np.float32)
    heads.intercept_ = np.zeros(3)
    neutralize_identity_features(union, heads, {"muslim", "muslims"}, caps={"identity_attack": 0.0})
    coef = dict(zip(union.get_feature_names_out(), heads.coef_[:, 1], strict=True))
    assert coef["word__muslims"] == 0 and coef["word__the muslim"] == 0
    assert coef["word__muslims are"] == 0  # identity word + function word: says only "a group is named"
    assert coef["word__vermin"] == 1 and coef["word__are vermin"] == 1
    assert (heads.coef_[:, 2] == 1).all()  # spam never


def test_identity_attack_identity_features_can_be_capped_at_a_quantile():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    from training.features import LinearHeads
    from training.offline.pipeline import neutralize_identity_features

    union = FeatureUnion([("word", TfidfVectorizer())]).fit(["muslims jews trans vermin"])
    vocab = union.transformer_list[0][1].vocabulary_
    heads = LinearHeads(labels=["identity_attack"])
    heads.coef_ = np.zeros((len(vocab), 1), dtype=np.float32)
    for word, value in {"muslims": 1.0, "jews": 2.0, "trans": 4.0, "vermin": 3.0}.items():
        heads.coef_[vocab[word], 0] = value
    heads.intercept_ = np.zeros(1)
    neutralize_identity_features(union, heads, {"muslims", "jews", "trans"}, caps={"identity_attack": 0.5})
    coef = {word: heads.coef_[idx, 0] for word, idx in vocab.items()}
    assert coef == {"muslims": 1.0, "jews": 2.0, "trans": 2.0, "vermin": 3.0}  # capped at the median, 2.0
