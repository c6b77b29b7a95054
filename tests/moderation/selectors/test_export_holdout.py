"""`export_labels --holdout-share/--holdout-after`: a training file and a hold-out file split by decision
time, the audit sample in both, no hold-out text in the training file."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from moderation.models import Decision, DecisionKind
from moderation.selectors.labels import holdout_path
from moderation.services import ModelVerdict, moderate_comments, record_model_decisions

THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.4}}
DAY0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _labelled(make_comment, moderator, n: int, day: int, toxicity: float, action: str, text: str, reason=""):
    """A comment the model scored `toxicity`, then decided by a moderator on DAY0 + `day`."""
    comment = make_comment(text=text)
    record_model_decisions([ModelVerdict(comment.pk, {"toxicity": toxicity, "spam": 0.01}, "m", THRESHOLDS)])
    comment.refresh_from_db()
    moderate_comments({comment.pk: comment.status}, moderator, action, reason)
    Decision.objects.filter(comment=comment, kind=DecisionKind.MODERATOR).update(
        created_at=DAY0 + timedelta(days=day, minutes=n)
    )
    return comment


@pytest.fixture
def ten_days(make_comment, moderator):
    """One held-and-approved, one held-and-rejected and one confirmed approval (audit sample) a day."""
    for day in range(10):
        _labelled(make_comment, moderator, 0, day, 0.5, "approve", f"A fair point about day {day}'s story.")
        _labelled(make_comment, moderator, 1, day, 0.6, "reject", f"You idiot {day}, shut up.", "toxic")
        _labelled(make_comment, moderator, 2, day, 0.05, "approve", f"Thanks for the report on day {day}.")


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.django_db
def test_holdout_share_splits_by_time_and_keeps_audit_rows_in_both(ten_days, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2026-10-01", "--out", str(out), "--holdout-share", "0.2")
    train, holdout = _read(out), _read(holdout_path(out))
    assert holdout_path(out).name == "labels.holdout.csv"
    assert len(train) == 24 and len(holdout) == 6  # the latest 20% of 30 rows: the last two days
    assert max(r["decided_at"] for r in train) < min(r["decided_at"] for r in holdout)
    for rows in (train, holdout):
        assert {r["label_source"] for r in rows} == {"moderator_review", "audit_sample"}
    printed = capsys.readouterr().out
    assert f"wrote 24 training rows to {out}" in printed
    assert "wrote 6 hold-out rows" in printed and "2 audit_sample" in printed


@pytest.mark.django_db
def test_holdout_after_a_date_and_an_explicit_holdout_path(ten_days, tmp_path):
    out, held = tmp_path / "train.csv", tmp_path / "later.csv"
    call_command(
        "export_labels",
        "--since",
        "2026-10-01",
        "--out",
        str(out),
        "--holdout-after",
        "2026-11-08",
        "--holdout-out",
        str(held),
    )
    assert {r["decided_at"][:10] for r in _read(held)} == {"2026-11-08", "2026-11-09", "2026-11-10"}
    assert len(_read(out)) == 21


@pytest.mark.django_db
def test_holdout_leaves_out_texts_already_in_the_training_file(make_comment, moderator, tmp_path, capsys):
    for day in range(5):
        _labelled(make_comment, moderator, 0, day, 0.5, "approve", "Same words every day, a repeat.")
        _labelled(make_comment, moderator, 1, day, 0.5, "approve", f"Fresh words on day {day}.")
    out = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2026-10-01", "--out", str(out), "--holdout-share", "0.2")
    held = _read(holdout_path(out))
    assert [r["text"] for r in held] == ["Fresh words on day 4."]
    assert "left 1 hold-out rows out: their text is also in the training rows" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize("share", ["0", "1", "1.5", "x"])
def test_holdout_share_outside_0_1_is_refused(share, tmp_path):
    with pytest.raises(CommandError, match="--holdout-share"):
        out = str(tmp_path / "a.csv")
        call_command("export_labels", "--since", "2026-10-01", "--out", out, "--holdout-share", share)


@pytest.mark.django_db
def test_export_of_one_site_leaves_other_sites_out(ten_days, tmp_path):
    out = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2026-10-01", "--out", str(out), "--site", "nowhere")
    assert _read(out) == []
    call_command("export_labels", "--since", "2026-10-01", "--out", str(out), "--site", "default")
    assert len(_read(out)) == 30
