"""manage.py perspective_compare: replaying logged Perspective scores against our model."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from moderation.management.commands.perspective_compare import compare
from moderation.scoring import current_model

TEXTS = [
    "You are a pathetic idiot, shut up.",
    "What a load of rubbish, the writer clearly knows nothing about the region.",
    "Great reporting, thanks for the balanced view of the border talks.",
    "Interesting piece. The economic angle with China is missing though.",
    "What kind of idiot name is foo?",
    "Pakistan is right to be cautious here.",
]


def write_csv(path, rows, header=("text", "score")):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_compare_matches_volume_and_counts_shared_flags():
    theirs = [0.9, 0.8, 0.1, 0.2, 0.6, 0.05]
    ours = [0.95, 0.3, 0.2, 0.1, 0.7, 0.01]
    result = compare(theirs, ours, [0.5, 0.7, 0.99])
    at_05, at_07, at_099 = result["thresholds"]
    assert at_05["perspective_flags"] == 3 and at_05["our_threshold"] == 0.3 and at_05["our_flags"] == 3
    assert at_05["shared"] == 3 and at_05["shared_share"] == 1.0
    assert at_07["perspective_flags"] == 2 and at_07["our_threshold"] == 0.7 and at_07["shared"] == 1
    assert at_099["perspective_flags"] == 0 and at_099["our_threshold"] is None
    assert 0.8 < result["spearman"] <= 1.0


def test_command_replays_csv_against_our_model(tmp_path):
    ours = [row["toxicity"] for row in current_model().score(TEXTS)]
    # full precision: two abusive texts score 0.9999956 and 0.99999999, which 4 decimals would tie
    path = write_csv(tmp_path / "log.csv", [(t, repr(s)) for t, s in zip(TEXTS, ours, strict=True)])
    out = StringIO()
    call_command("perspective_compare", "--data", str(path), "--json", "--at", "0.5", stdout=out)
    result = json.loads(out.getvalue())
    assert (
        result["attribute"] == "TOXICITY" and result["label"] == "toxicity" and result["rows"] == len(TEXTS)
    )
    assert result["spearman"] == 1.0  # the same scores rank the same
    (row,) = result["thresholds"]
    assert row["shared_share"] == 1.0
    assert result["our_policy_thresholds"] == current_model().thresholds["toxicity"]

    table = StringIO()
    call_command("perspective_compare", "--data", str(path), stdout=table)
    assert "Spearman" in table.getvalue() and "Perspective ≥" in table.getvalue()


def test_other_attribute_and_columns(tmp_path):
    path = write_csv(tmp_path / "log.csv", [(t, 0.5) for t in TEXTS], header=("comment", "insult_score"))
    out = StringIO()
    call_command(
        "perspective_compare",
        "--data",
        str(path),
        "--attribute",
        "PROFANITY",
        "--text-column",
        "comment",
        "--score-column",
        "insult_score",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue())["label"] == "obscene"


@pytest.mark.parametrize(
    "rows,header,message",
    [
        ([("hello", "x")], ("text", "score"), "is not a number"),
        ([("hello", "1.5")], ("text", "score"), "outside [0, 1]"),
        ([("hello", "0.5")], ("body", "score"), "no column text"),
        ([("", "0.5")], ("text", "score"), "no rows with text"),
    ],
)
def test_bad_csv_names_the_problem(tmp_path, rows, header, message):
    path = write_csv(tmp_path / "log.csv", rows, header=header)
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call_command("perspective_compare", "--data", str(path))


def test_missing_file(tmp_path):
    with pytest.raises(CommandError, match="--data"):
        call_command("perspective_compare", "--data", str(tmp_path / "nope.csv"))
