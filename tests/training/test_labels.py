"""Moderator labels for retraining: `manage.py export_labels` writes training rows from moderator decisions
(plus an audit sample of confirmed automatic approvals), and `python -m training train --labels FILE:WEIGHT`
trains on them with the public datasets (small-sample config: seconds)."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from moderation.models import Decision
from moderation.selectors.labels import export_labels as export_labels_fn
from moderation.services import (
    ModelVerdict,
    moderate_comments,
    record_model_decisions,
    undo_moderator_actions,
)
from training.runtime import LABELS

THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.4}}


def _decide(comment, toxicity: float):
    record_model_decisions(
        [ModelVerdict(comment.pk, {"toxicity": toxicity, "spam": 0.01}, "model-a", THRESHOLDS)]
    )
    comment.refresh_from_db()
    return comment


def _act(comment, user, action, reason_code=""):
    return moderate_comments(
        {comment.pk: comment.status}, user, action, reason_code, note="x" if reason_code == "other" else ""
    )


@pytest.fixture
def labelled(make_comment, moderator):
    """Comments in every situation the export distinguishes; returns them by name."""
    c = {}
    c["held_ok"] = _decide(make_comment(text="A fair point about the border, well argued."), 0.5)
    _act(c["held_ok"], moderator, "approve")
    c["held_toxic"] = _decide(make_comment(text="You are a stupid idiot, shut up."), 0.6)
    _act(c["held_toxic"], moderator, "reject", "toxic")
    c["override_spam"] = _decide(make_comment(text="Win a free iphone, click here now http://x.example"), 0.1)
    _act(c["override_spam"], moderator, "reject", "spam")
    c["off_topic"] = _decide(make_comment(text="Anyone watching the football tonight?"), 0.5)
    _act(c["off_topic"], moderator, "reject", "off_topic")
    c["undone"] = _decide(make_comment(text="Something a moderator approved and took back."), 0.5)
    undo_moderator_actions(_act(c["undone"], moderator, "approve").audit_ids, moderator)
    c["confirmed"] = []
    for n in range(5):
        comment = _decide(make_comment(text=f"Thoughtful comment number {n} about the story."), 0.05)
        _act(comment, moderator, "approve")
        c["confirmed"].append(comment)
    c["unreviewed"] = _decide(make_comment(text="Nobody looked at this one."), 0.05)
    return c


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.django_db
def test_export_labels_writes_moderator_decisions_and_an_audit_sample(labelled, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    call_command("export_labels", "--since", since, "--out", str(out), "--audit-sample", "3", "--seed", "1")
    assert "wrote 7 rows" in capsys.readouterr().out
    rows = {int(r["comment_id"]): r for r in _read(out)}
    by = {name: rows.get(c.pk) for name, c in labelled.items() if name != "confirmed"}
    assert by["held_ok"]["label"] == "ok" and by["held_ok"]["label_source"] == "moderator_review"
    assert by["held_toxic"]["label"] == "toxic" and by["held_toxic"]["reason_code"] == "toxic"
    assert (
        by["override_spam"]["label"] == "spam" and by["override_spam"]["label_source"] == "moderator_override"
    )
    assert by["off_topic"]["label"] == "off_topic"
    assert by["undone"] is None and by["unreviewed"] is None  # no moderator label
    audit = [r for r in rows.values() if r["label_source"] == "audit_sample"]
    assert len(audit) == 3 and all(r["label"] == "ok" for r in audit)
    assert {int(r["comment_id"]) for r in audit} <= {c.pk for c in labelled["confirmed"]}

    row = by["held_toxic"]
    assert row["text"] == labelled["held_toxic"].text
    assert float(row["score_toxicity"]) == pytest.approx(0.6) and json.loads(row["scores"])["toxicity"] == 0.6
    assert row["model_version"] == "model-a" and row["decided_by"] == "mod"
    decision = Decision.objects.filter(comment=labelled["held_toxic"], kind="moderator").get()
    assert row["decided_at"] == decision.created_at.isoformat()
    assert set(_read(out)[0]) >= {
        "text",
        "label",
        "label_source",
        "reason_code",
        "model_version",
        "decided_at",
        *[f"score_{label}" for label in LABELS],
    }

    # The sample is random but reproducible, and --since leaves older decisions out.
    again = tmp_path / "again.csv"
    call_command("export_labels", "--since", since, "--out", str(again), "--audit-sample", "3", "--seed", "1")
    assert _read(again) == _read(out)
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    call_command("export_labels", "--since", tomorrow, "--out", str(again))
    assert _read(again) == []


@pytest.mark.django_db
def test_export_then_train_with_weighted_labels(labelled, tmp_path):
    from training.offline.cli import main
    from training.offline.datasets import load_moderator_export
    from training.runtime import load_model

    out = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2000-01-01", "--out", str(out))
    corpus = load_moderator_export(out, weight=3.0)
    assert len(corpus) == 9 - 1  # off_topic says nothing about our labels: skipped
    assert set(corpus.weight.tolist()) == {3.0}

    config = tmp_path / "small.json"
    config.write_text(
        json.dumps(
            {
                "max_rows_per_source": 120,
                "evaluate_external": False,
                "word_max_features": 3000,
                "char_max_features": 6000,
                "identity_sentences_per_identity": 2,
            }
        )
    )
    model_path = tmp_path / "model.joblib"
    assert main(["train", "--config", str(config), "--labels", f"{out}:3", "--out", str(model_path)]) == 0
    model = load_model(model_path)
    sources = {d["name"]: d for d in model.metadata["training_data"]}
    export = [d for name, d in sources.items() if name.startswith("moderator_export")]
    assert export and export[0]["weight"] == 3.0, model.metadata["training_data"]
    assert model.metadata["config"]["moderator_exports"] == [{"path": str(out), "weight": 3.0}]


def test_labels_option_parses_file_and_weight(tmp_path):
    from training.offline.cli import build_parser

    f = tmp_path / "a.csv"
    f.write_text("text,label\n")
    args = build_parser().parse_args(["train", "--labels", str(f), "--labels", f"{f}:2.5"])
    assert args.labels == [{"path": str(f), "weight": 1.0}, {"path": str(f), "weight": 2.5}]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--labels", f"{f}:0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--labels", str(tmp_path / "missing.csv")])


@pytest.mark.django_db
def test_export_labels_includes_stored_suggested_scores(site, tmp_path):
    from moderation.models import SuggestedScore
    from moderation.selectors.labels import suggested_label

    SuggestedScore.objects.bulk_create(
        [
            SuggestedScore(
                site=site, text="you absolute idiot", attribute="TOXICITY", label="toxicity", score=0.9
            ),
            SuggestedScore(site=site, text="buy cheap pills", attribute="SPAM", label="spam", score=0.5),
            SuggestedScore(site=site, text="nice article", attribute="INSULT", label="insult", score=0.1),
            SuggestedScore(
                site=site,
                text="ok. you moron.",
                attribute="PROFANITY",
                label="obscene",
                span_scores=[{"begin": 0, "end": 3, "score": 0.1}, {"begin": 4, "end": 14, "score": 0.8}],
            ),
        ]
    )
    out = tmp_path / "labels.csv"
    counts = export_labels_fn(out, timezone.now() - timedelta(days=1))
    assert counts["suggestscore"] == 4
    rows = {r["text"]: r for r in _read(out)}
    assert {r["label_source"] for r in rows.values()} == {"suggestscore"}
    toxic = rows["you absolute idiot"]
    assert toxic["label"] == "toxic" and toxic["reason_code"] == "TOXICITY"
    assert float(rows["you absolute idiot"]["score_toxicity"]) == pytest.approx(0.9)
    assert rows["buy cheap pills"]["label"] == "spam"  # 0.5 counts as positive
    assert rows["nice article"]["label"] == "ok"
    assert rows["ok. you moron."]["label"] == "toxic"  # no summary: the highest span score
    assert json.loads(rows["ok. you moron."]["scores"]) == {"obscene": 0.8}
    assert rows["buy cheap pills"]["comment_id"] == "" and rows["buy cheap pills"]["site"] == site.slug
    assert suggested_label("SPAM", 0.49) == "ok" and suggested_label("THREAT", 0.7) == "toxic"
    from training.offline.datasets import load_moderator_export

    assert len(load_moderator_export(out)) == 4  # the trainer reads the rows as they are written
    # Only rows stored in the range: nothing before --since.
    assert export_labels_fn(out, timezone.now() + timedelta(days=1))["suggestscore"] == 0
