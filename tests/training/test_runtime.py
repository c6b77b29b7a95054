"""The runtime scoring engine: artifact verification and the score/explain contract."""

import json
import pickle

import joblib
import pytest

from training.runtime import LABELS, ArtifactError, ModelArtifact, default_model_path, load_model


def test_default_model_path_points_into_repo_models(monkeypatch):
    monkeypatch.delenv("MODERATION_MODEL_PATH", raising=False)
    path = default_model_path()
    assert path.name == "default.joblib" and path.parent.name == "models"
    assert path.with_suffix(".json").is_file()


def test_default_model_path_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("MODERATION_MODEL_PATH", str(tmp_path / "other.joblib"))
    assert default_model_path() == tmp_path / "other.joblib"


def test_shipped_model_loads_with_metadata(shipped_model):
    assert isinstance(shipped_model, ModelArtifact)
    assert shipped_model.labels == LABELS
    sha = shipped_model.metadata["sha256"]
    assert shipped_model.version.startswith("tox-spam-") and shipped_model.version.endswith(sha[:8])
    for key in ("created_at", "library_versions", "training_data", "metrics", "thresholds", "labels", "seed"):
        assert key in shipped_model.metadata
    assert {"toxicity", "spam"} <= set(shipped_model.thresholds)
    for t in shipped_model.thresholds.values():
        assert 0 <= t["review"] <= t["reject"] <= 1
    assert shipped_model.described_thresholds() == shipped_model.thresholds
    fast = load_model(default_model_path(), second_stage=False)  # the sidecar's thresholds: the fast stage's
    assert fast.metadata["thresholds"] == fast.described_thresholds() == fast.thresholds


def test_score_returns_every_label_in_unit_interval(shipped_model):
    texts = [
        "Thanks for the thoughtful article.",
        "You are a pathetic idiot.",
        "",
        "CHECK OUT MY CHANNEL!!! subscribe http://bit.ly/x",
        "ｆｕｃｋ  y o u",
    ]
    scores = shipped_model.score(texts)
    assert len(scores) == len(texts)
    for row in scores:
        assert list(row) == LABELS
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert scores[1]["toxicity"] > scores[0]["toxicity"]
    assert scores[3]["spam"] > scores[0]["spam"]
    assert shipped_model.score([]) == []


def test_score_rejects_a_bare_string(shipped_model):
    with pytest.raises(TypeError):
        shipped_model.score("a single comment")


@pytest.mark.parametrize(
    "text",
    [
        "I am a Muslim",
        "Afghan people live here",
        "I am gay",
        "My neighbour is Jewish",
        "She is a black woman",
        "I am a transgender man",
        "She is a teacher.",
        "Pakistan should not recognise the Taliban government yet.",
    ],
)
def test_identity_mentions_alone_stay_below_review(shipped_model, text):
    score = shipped_model.score([text])[0]["toxicity"]
    assert score < shipped_model.thresholds["toxicity"]["review"], (text, score)


@pytest.mark.xfail(
    strict=True,
    reason="known bias of the fast stage: 'black' next to 'she' or 'he' scores ~0.10, well above the same "
    "sentence about a teacher (models/README.md, known limits); under the review threshold either way",
)
def test_an_identity_word_does_not_raise_a_neutral_sentence_in_the_fast_stage():
    fast = load_model(default_model_path(), second_stage=False)
    plain, black = (s["toxicity"] for s in fast.score(["She is a teacher.", "She is a black woman"]))
    assert black <= plain + 0.01, (plain, black)


def test_explanations_name_words_not_punctuation_or_function_words(shipped_model):
    """Issue 21: explanations credited "fooled." (punctuation attached), fragments like "iar." and function
    words."""
    from training.runtime import FUNCTION_WORDS

    text = "You fooled. The people of this country are idiots, and the minister is a liar."
    words = [w for w, _ in shipped_model.explain(text, "toxicity", top_k=20)]
    assert "idiots" in words and "liar" in words and "fooled" in words
    for name in words:
        assert not any(ch in name for ch in ".,!?"), name
        assert name not in FUNCTION_WORDS, name
        assert all(part in text.lower() for part in name.split()), name  # whole words of the text only


def test_obvious_abuse_reaches_review(shipped_model):
    th = shipped_model.thresholds["toxicity"]
    for text in ["you are a stupid idiot", "shut up you f u c k i n g moron", "y0u 1d10t"]:
        assert shipped_model.score([text])[0]["toxicity"] >= th["review"], text


def test_explain_names_the_offending_words(shipped_model):
    top = shipped_model.explain("Thanks for the article, but you are a stupid idiot.", "toxicity", top_k=5)
    words = [w for w, _ in top]
    assert len(top) <= 5 and top == sorted(top, key=lambda kv: kv[1], reverse=True)
    assert all(v > 0 for _, v in top)
    assert "idiot" in words or "stupid" in words
    with pytest.raises(KeyError):
        shipped_model.explain("x", "not-a-label")


def test_explain_credits_a_telephone_number_as_one_term(shipped_model):
    # the shipped spam head weighs the phone-number feature (4db15932); the term is the number as normalised
    text = "Router not connecting? Dial tech support +1 555 0112 for a remote fix."
    terms = dict(shipped_model.explain(text, "spam"))
    assert "+1 55 0112" in terms and terms["+1 55 0112"] == max(terms.values())
    assert "phone_number" not in terms
    assert all("55 0112" not in t for t, _ in shipped_model.explain("Thanks for the article", "spam"))


def test_sha256_mismatch_is_refused(artifact_copy):
    data = bytearray(artifact_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact_copy.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load_model(artifact_copy)


def test_pinned_sha256_is_enforced(artifact_copy):
    with pytest.raises(ArtifactError, match="pinned"):
        load_model(artifact_copy, expected_sha256="0" * 64)


def test_truncated_file_is_refused(artifact_copy):
    data = artifact_copy.read_bytes()
    artifact_copy.write_bytes(data[: len(data) // 3])
    with pytest.raises(ArtifactError, match="truncated"):
        load_model(artifact_copy)
    # without the size hint the hash still catches it
    meta_path = artifact_copy.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    del meta["size_bytes"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="sha256"):
        load_model(artifact_copy)


def test_missing_file_and_missing_sidecar_are_refused(artifact_copy, tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        load_model(tmp_path / "absent.joblib")
    artifact_copy.with_suffix(".json").unlink()
    with pytest.raises(ArtifactError, match="sidecar"):
        load_model(artifact_copy)


def test_other_sklearn_version_is_refused(artifact_copy):
    import sklearn

    meta_path = artifact_copy.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["library_versions"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as info:
        load_model(artifact_copy)
    assert "0.24.2" in str(info.value) and sklearn.__version__ in str(info.value)


class _Exploit:
    """Unpickling this runs `open(path, "w")`: what a malicious artifact would do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_code_executing_pickle_is_refused_before_unpickling(artifact_copy, tmp_path):
    sentinel = tmp_path / "pwned"
    # same path: the shipped sidecar now describes another file
    joblib.dump(_Exploit(sentinel), artifact_copy)
    meta_path = artifact_copy.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["size_bytes"] = artifact_copy.stat().st_size  # an attacker can fake the size, not the hash
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="sha256"):
        load_model(artifact_copy)
    assert not sentinel.exists()
    # sanity: the payload really would have run code if unpickled
    pickle.loads(pickle.dumps(_Exploit(sentinel)))
    assert sentinel.exists()


def test_direct_feature_matrix_equals_the_feature_union():
    from training.runtime import load_model

    model = load_model()
    texts = ["hello there", "f u c k off you 1d10t", "Check out my channel http://x.example", "ok"]
    direct = model._matrix(texts)
    union = model._features.transform(model._normalizer.transform(texts))
    assert direct.shape == union.shape
    assert abs(direct - union).max() == 0


def test_scores_are_the_same_to_the_bit_without_scikit_learns_input_checks(shipped_model, monkeypatch):
    """Serving skips scikit-learn's parameter and finiteness checks (a quarter of one comment's fast-stage
    time); they found nothing to refuse, so the scores and the feature matrix must not move at all."""
    import training.runtime as runtime

    texts = [
        "Thanks for the thoughtful article.",
        "You are a pathetic idiot.",
        "",
        "😂😂😂",
        "CHECK OUT MY CHANNEL!!! subscribe http://bit.ly/x",
        "ｆｕｃｋ  y o u, call +44 7700 900123",
        "Pakistan's caution about recognising the Taliban makes sense given the border situation.",
    ]
    served, served_matrix = shipped_model.score_with_features(texts)
    monkeypatch.setattr(runtime, "_SERVING", {})  # scikit-learn's defaults: every check on
    checked, checked_matrix = shipped_model.score_with_features(texts)
    assert served == checked
    assert abs(served_matrix - checked_matrix).max() == 0
