"""`python -m training refit` (training.offline.refit): one fast-stage head fitted again on the real sources,
over the shipped model's own features (a few dozen rows a source, so it takes seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.labels import LABELS
from training.offline.cli import main
from training.offline.refit import RefitConfig, refit_heads
from training.runtime import load_model

pytestmark = pytest.mark.trains

TEXTS = [
    "Thanks, this was a useful article about the border talks.",
    "I made $40,000 in two weeks with an investment manager. Message her on WhatsApp +1 555 0101.",
    "You are an idiot and everyone here knows it.",
    "Great post! I wrote about the same topic at www.example-deals.xyz, check it out.",
]


def test_refit_changes_only_the_spam_head_and_records_what_it_learned(tmp_path):
    shipped = load_model(second_stage=False)
    model = refit_heads(
        None, tmp_path / "refit.joblib", RefitConfig(labels=("spam",), max_rows_per_source=60), lambda _: None
    )
    refit = load_model(model.path, second_stage=False)
    assert refit.version != shipped.version
    before, after = shipped.score(TEXTS), refit.score(TEXTS)
    for b, a in zip(before, after, strict=True):
        assert {k: v for k, v in a.items() if k != "spam"} == {k: v for k, v in b.items() if k != "spam"}
    assert [a["spam"] for a in after] != [b["spam"] for b in before]
    j = LABELS.index("spam")
    old, new = shipped._payload["heads"], refit._payload["heads"]
    others = [i for i in range(len(LABELS)) if i != j]
    assert np.array_equal(old.coef_[:, others], new.coef_[:, others])
    assert refit._payload["features"] is not None and "spam" in refit.thresholds
    sidecar = json.loads(model.path.with_suffix(".json").read_text())
    assert sidecar["refit"]["from_model"] == shipped.version
    names = {d["name"] for d in sidecar["refit"]["training_data"]}
    assert {"instagram_scam_comments", "wordpress_blog_spam", "youtube_spam_collection"} <= names
    validation = sidecar["refit"]["report"]["spam"]["validation"]
    assert "roc_auc_before" in next(iter(validation.values()))
    # the other labels' thresholds are the shipped ones
    assert {k: v for k, v in refit.thresholds.items() if k != "spam"} == {
        k: v for k, v in shipped.thresholds.items() if k != "spam"
    }


def test_refit_refuses_an_unknown_label_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["refit", "--labels", "scams", "--out", str(tmp_path / "x.joblib")])
    assert exc.value.code == 2
    assert "scams" in capsys.readouterr().err
    with pytest.raises(ValueError, match="labels: \\['scams'\\]"):
        refit_heads(None, tmp_path / "x.joblib", RefitConfig(labels=("scams",)), lambda _: None)
