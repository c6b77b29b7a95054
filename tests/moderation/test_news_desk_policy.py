"""The news desk's verdict (issue 22): no words, nothing to judge; reason codes and severity stored with the
decision; the review queue shows threats and hate first; moderators reject with the same codes, and the
trainer reads them as labels."""

from __future__ import annotations

import csv

import pytest

from moderation.models import Comment, CommentStatus
from moderation.scoring import has_words, judge
from moderation.selectors.dashboard import QueueFilters, queue_queryset
from moderation.services import ModelVerdict, moderate_comments, record_model_decisions

THRESHOLDS = {
    "toxicity": {"reject": 0.9, "review": 0.4},
    "threat": {"reject": 0.5, "review": 0.3},
    "identity_attack": {"reject": 0.5, "review": 0.3},
    "insult": {"reject": 0.8, "review": 0.6},
    "spam": {"reject": 0.95, "review": 0.5},
}
CALM = {"toxicity": 0.01, "threat": 0.0, "identity_attack": 0.0, "insult": 0.0, "spam": 0.0}


@pytest.mark.parametrize("text", ["", "👍", "😂😂😂", "!!!", "...", "🙏🇵🇰"])
def test_a_comment_with_no_words_is_approved_whatever_it_scores(text):
    verdict = judge({**CALM, "toxicity": 0.6}, THRESHOLDS, "v1", text=text)
    assert verdict.outcome == CommentStatus.APPROVED and verdict.reasons == ["no words to judge"]


@pytest.mark.parametrize("text", ["f u c k", "ѕсum", "اچھا", "1d10t", "ok\u200b"])
def test_obfuscated_or_non_latin_text_has_words(text):
    assert has_words(text)


def test_the_verdict_carries_reason_codes_most_severe_first():
    verdict = judge({**CALM, "toxicity": 0.5, "threat": 0.35, "insult": 0.7}, THRESHOLDS, "v1", text="words")
    assert verdict.outcome == CommentStatus.NEEDS_REVIEW
    assert verdict.codes == ["threat", "harassment", "toxic"] and verdict.severity == 4


@pytest.mark.django_db
def test_the_review_queue_shows_threats_and_hate_first(make_comment):
    made = {}
    for name, scores in [
        ("rude", {**CALM, "toxicity": 0.5}),
        ("threat", {**CALM, "toxicity": 0.5, "threat": 0.35}),
        ("hate", {**CALM, "toxicity": 0.5, "identity_attack": 0.35}),
        ("newest rude", {**CALM, "toxicity": 0.6}),
    ]:
        c = make_comment(text=f"a {name} comment")
        record_model_decisions([ModelVerdict(c.pk, scores, "v1", THRESHOLDS, text=c.text)])
        made[name] = c.pk
    stored = Comment.objects.get(pk=made["threat"])
    assert stored.reason_codes == ["threat", "toxic"] and stored.severity == 4
    order = [c.pk for c in queue_queryset(QueueFilters(), {})]
    assert order == [made["threat"], made["hate"], made["newest rude"], made["rude"]]
    newest = [c.pk for c in queue_queryset(QueueFilters(sort="newest"), {})]
    assert newest == [made["newest rude"], made["hate"], made["threat"], made["rude"]]


@pytest.mark.django_db
def test_moderators_reject_with_hate_threat_and_harassment_and_the_trainer_reads_them(
    make_comment, moderator, tmp_path
):
    from django.core.management import call_command

    from training.offline.datasets import LABELS, load_moderator_export

    codes = ["hate", "threat", "harassment"]
    for code in codes:
        c = make_comment(text=f"a comment rejected for {code}")
        record_model_decisions([ModelVerdict(c.pk, {**CALM, "toxicity": 0.5}, "v1", THRESHOLDS, text=c.text)])
        moderate_comments({c.pk: CommentStatus.NEEDS_REVIEW}, moderator, "reject", code)
    out = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2000-01-01", "--out", str(out), "--audit-sample", "0")
    with open(out, newline="", encoding="utf-8") as fh:
        assert sorted(r["label"] for r in csv.DictReader(fh)) == sorted(codes)
    corpus = load_moderator_export(out)
    assert len(corpus) == 3
    by_text = dict(zip(corpus.texts, corpus.y, strict=True))
    hate = by_text["a comment rejected for hate"]
    assert hate[LABELS.index("identity_attack")] == 1.0 and hate[LABELS.index("toxicity")] == 1.0
    assert by_text["a comment rejected for threat"][LABELS.index("threat")] == 1.0
    assert by_text["a comment rejected for harassment"][LABELS.index("insult")] == 1.0


@pytest.mark.django_db
def test_sites_learn_the_reason_codes_from_the_status_api_and_webhooks(make_comment):
    from moderation.api.v1 import comment_state
    from moderation.webhooks.delivery import event_data

    c = make_comment(text="a threatening comment")
    scores = {**CALM, "toxicity": 0.5, "threat": 0.35}
    record_model_decisions([ModelVerdict(c.pk, scores, "v1", THRESHOLDS, text=c.text)])
    c.refresh_from_db()
    assert comment_state(c)["reason_codes"] == ["threat", "toxic"]
    assert event_data(c, "automatic")["reason_codes"] == ["threat", "toxic"]
