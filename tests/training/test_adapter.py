"""A site adapter (training.adapter, fitted by training.offline.adapt): fit on a site's labels, save,
verified load, scoring, and `python -m training adapt`. Real shipped model (fast stage); a made-up site whose
moderators reject a kind of comment the shared model finds harmless, so only what the adapter learned holds
it."""

import csv
import random

import numpy as np
import pytest

from training.adapter import SiteAdapter, load_adapter, save_adapter
from training.offline.adapt import fit_adapter, read_export, site_reject
from training.offline.cli import main
from training.runtime import ArtifactError, default_model_path, load_model

FRUITS = ["pineapple", "mango", "papaya", "durian", "lychee", "guava"]
TOPICS = ["the council vote", "the new bridge", "the school budget", "the bus route", "the harbour plan"]


def _site(n: int, seed: int) -> tuple[list[str], list[int]]:
    """This site's moderators reject fruit adverts ("buy fresh pineapple ..."); everything else is civil."""
    rng = random.Random(seed)
    texts, y = [], []
    for i in range(n):
        if i % 3 == 0:
            texts.append(f"buy fresh {rng.choice(FRUITS)} today, best {rng.choice(FRUITS)} deals in town")
            y.append(1)
        else:
            texts.append(f"I think {rng.choice(TOPICS)} is a reasonable idea, thanks for reporting {i}")
            y.append(0)
    return texts, y


@pytest.fixture(scope="module")
def model():
    return load_model(default_model_path(), second_stage=False)


@pytest.fixture(scope="module")
def fitted(model):
    texts, y = _site(90, seed=1)
    return fit_adapter(model, texts, y, review_budget=0.4)  # a third of this site's comments are adverts


def test_the_adapter_learns_what_the_site_rejects(model, fitted):
    texts, y = _site(60, seed=2)  # comments the adapter never saw
    shared = np.array([s["toxicity"] for s in model.score(texts)])
    adapted = np.array([s["toxicity"] for s in fitted.score(model, texts)])
    y = np.array(y, dtype=bool)
    assert shared.max() < model.thresholds["toxicity"]["review"]  # the shared model holds none of them
    review = fitted.thresholds["toxicity"]["review"]
    assert adapted[y].min() >= review > adapted[~y].max()  # the adapter holds every advert and nothing else
    assert fitted.fit["rows"] == 90 and fitted.fit["positives"] == 30
    assert 0 < review <= fitted.thresholds["toxicity"]["reject"] <= 1.0


def test_only_the_adapted_label_changes(model, fitted):
    texts = ["buy fresh mango today", "the council vote was close"]
    base, adapted = model.score(texts), fitted.score(model, texts)
    for b, a in zip(base, adapted, strict=True):
        assert set(a) == set(b)
        assert {k: v for k, v in a.items() if k != "toxicity"} == {
            k: v for k, v in b.items() if k != "toxicity"
        }
    assert fitted.score(model, []) == []


def test_save_then_load_is_verified_and_scores_the_same(model, fitted, tmp_path):
    path = tmp_path / "site.joblib"
    saved = save_adapter(fitted, path, model, site="test-site")
    assert saved.version.startswith("adapter-test-site-") and (tmp_path / "site.json").is_file()
    texts = ["buy fresh guava today", "a fair point about the bridge"]
    assert load_adapter(path, model).score(model, texts) == fitted.score(model, texts)
    assert path.stat().st_size < 2_000_000  # plain arrays, no vocabulary: the model carries that

    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load_adapter(path, model)


def test_an_adapter_is_refused_on_another_model(model, fitted, tmp_path):
    other = SiteAdapter(**{**fitted.__dict__, "base_model": {"version": "other", "sha256": "0" * 64}})
    with pytest.raises(ArtifactError, match="fitted on model other"):
        other.score(model, ["hello"])
    with pytest.raises(ArtifactError, match="not a site adapter"):
        load_adapter(default_model_path())


def test_too_few_labels_of_a_class_are_refused(model):
    with pytest.raises(ValueError, match="at least 10"):
        fit_adapter(model, ["buy mango"] * 5 + ["nice bridge"] * 30, [1] * 5 + [0] * 30)


def test_site_reject_needs_precision_and_enough_rejections():
    scores = np.linspace(1, 0, 40)
    y = np.array([1] * 20 + [0] * 20)
    assert site_reject(scores, y, 0.99, 1.0) == pytest.approx(scores[19])  # the lowest all-right threshold
    assert site_reject(scores, y, 0.95, 1.0) == pytest.approx(scores[20])  # 20 of 21 right is 95%
    assert site_reject(scores[:5], y[:5], 0.95, 1.0) == 1.0  # fewer than MIN_REJECTED rejections


def _export(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "label_source", "decided_at"])
        writer.writerows([[t, label, "moderator", "2026-12-01T10:00:00Z"] for t, label in rows])


def test_read_export_maps_the_moderator_vocabulary_like_the_trainer(tmp_path):
    path = tmp_path / "labels.csv"
    rows = [("a", "ok"), ("b", "toxic"), ("c", "hate"), ("d", "threat"), ("e", "spam"), ("f", "other")]
    _export(path, rows)
    texts, y, skipped = read_export(path)
    assert (texts, y) == (["a", "b", "c", "d"], [0, 1, 1, 1])
    assert sum(skipped.values()) == 2 and any("'spam'" in k for k in skipped)


def test_adapt_command_writes_a_verified_adapter(model, tmp_path, capsys):
    texts, y = _site(60, seed=3)
    labels = tmp_path / "labels.csv"
    _export(labels, [(t, "toxic" if v else "ok") for t, v in zip(texts, y, strict=True)] + [("x", "other")])
    out = tmp_path / "adapters" / "site.joblib"
    assert main(["adapt", "--labels", str(labels), "--out", str(out), "--site", "s1"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 row(s)" in printed and "site thresholds" in printed
    assert load_adapter(out, model).fit["rows"] == 60


def test_adapt_command_names_a_bad_label(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    _export(labels, [("x", "rubbish")])
    assert main(["adapt", "--labels", str(labels), "--out", str(tmp_path / "a.joblib")]) == 2
    assert "rubbish" in capsys.readouterr().err


def test_without_a_head_the_adapter_is_a_calibration_layer(model):
    texts, y = _site(60, seed=4)
    calibration = fit_adapter(model, texts, y, head_c=None)
    assert not calibration.head_coef.any() and calibration.stack_coef[-1] == 0.0
    scores = calibration.score(model, ["buy fresh mango today"])
    assert 0.0 < scores[0]["toxicity"] < 1.0


def test_the_feature_matrix_is_what_the_fast_stage_heads_read(model):
    texts = ["you are a worthless idiot", "thanks for the report"]
    proba = model._heads.predict_proba(model.feature_matrix(texts))
    scores = model.score(texts)
    assert model.feature_matrix(texts).shape == (2, model.n_features)
    np.testing.assert_allclose(proba, [[s[label] for label in model.labels] for s in scores], rtol=1e-6)
