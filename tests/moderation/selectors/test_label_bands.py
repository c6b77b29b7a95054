"""Which labels flagged a comment is stored as data (Comment/Decision.label_bands), written by the one verdict
and read by the dashboard's label filter, the stats and the metrics; reasons are sentences for people."""

from __future__ import annotations

import importlib

import pytest

from moderation.models import Comment, CommentStatus, Decision
from moderation.selectors.dashboard import QueueFilters, queue_queryset
from moderation.selectors.stats import override_rates
from moderation.services import ModelVerdict, record_model_decisions

pytestmark = pytest.mark.django_db

THRESHOLDS = {
    "toxicity": {"review": 0.4, "reject": 0.9},
    "insult": {"review": 0.5, "reject": 0.9},
    "spam": {"review": 0.5, "reject": 0.99},
}


def decide(comment, **scores):
    full = {"toxicity": 0.0, "insult": 0.0, "spam": 0.0, **scores}
    record_model_decisions([ModelVerdict(comment.pk, full, "v-test", THRESHOLDS, text=comment.text)])
    comment.refresh_from_db()
    return comment


def test_the_verdict_writes_bands_on_comment_and_decision(make_comment):
    held = decide(make_comment(), toxicity=0.95)  # toxicity alone at reject: held, in the review band
    assert held.status == CommentStatus.NEEDS_REVIEW
    assert held.label_bands == {"toxicity": "review"}
    assert Decision.objects.get(comment=held).label_bands == {"toxicity": "review"}
    both = decide(make_comment(), toxicity=0.95, insult=0.95)
    assert both.status == CommentStatus.REJECTED and both.label_bands == {
        "toxicity": "reject",
        "insult": "reject",
    }
    assert decide(make_comment()).label_bands == {}


def test_label_filter_reads_bands_not_reason_sentences(make_comment):
    flagged = decide(make_comment(), insult=0.6)
    other = decide(make_comment(), spam=0.6)
    # A reason that merely mentions the label in a sentence does not count as the label flagging it.
    Comment.objects.filter(pk=other.pk).update(reasons=["insult 0.61 ≥ review threshold 0.50 (quoted)"])
    found = queue_queryset(QueueFilters(label="insult"))
    assert list(found.values_list("pk", flat=True)) == [flagged.pk]


def test_override_rates_count_the_labels_that_flagged(make_comment):
    comments = [decide(make_comment(), insult=0.6) for _ in range(2)] + [decide(make_comment(), spam=0.6)]
    Comment.objects.filter(pk=comments[0].pk).update(status=CommentStatus.APPROVED, decided_by="ana")
    Comment.objects.filter(pk=comments[1].pk).update(status=CommentStatus.REJECTED, decided_by="ana")
    Comment.objects.filter(pk=comments[2].pk).update(status=CommentStatus.REJECTED, decided_by="ana")
    _, table = override_rates()
    rows = {row["label"]: (row["decided"], row["approved"]) for row in table}
    assert rows == {"insult": (2, 1), "spam": (1, 0)}


def test_migration_reads_old_reason_sentences_once():
    bands = importlib.import_module("moderation.migrations.0008_verdict_label_bands")._bands
    assert bands(
        [
            "spam 1.00 ≥ reject threshold 0.99",
            "toxicity 0.95 ≥ reject threshold 0.90; no second label agrees, so a person decides",
            "insult 0.60 ≥ review threshold 0.50",
            "threat was not scored",
            "language 'fr' is not supported",
        ]
    ) == {"spam": "reject", "toxicity": "review", "insult": "review"}
    assert bands([]) == {} and bands(None) == {}
