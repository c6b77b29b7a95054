"""Deciding stored comments: score them in one batch with the model, apply the policy, record the
decisions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from moderation.models import Comment, CommentStatus, Site
from moderation.queue import enqueue_decide
from moderation.scoring import (
    ModelUnavailable,
    SiteScores,
    adapted_thresholds,
    current_model,
    score_for_sites,
)
from moderation.selectors.context import ContextItem, signals_for
from moderation.services.comments import (
    ModelVerdict,
    accept_comments,
    accept_decided_comments,
    is_edit,
    record_model_decisions,
    record_scoring_failure,
    revise_comments,
    stale_queued_comment_ids,
    thresholds_by_comment,
    thresholds_by_story,
)
from moderation.services.sites import DEFAULT_SITE_SLUG, get_or_create_site
from moderation.validation import SubmissionError, validate_submission

log = logging.getLogger(__name__)


def decide_comments(comment_ids: list[int]) -> list[int]:
    """Decide the comments among ``comment_ids`` that are still ``queued``.

    Scores them in one model call; if that call fails, scores them one by one so a single poison comment
    cannot hold up the rest. Returns the ids whose scoring failed and that should be tried again (each failure
    is counted; after MODERATION_MAX_ATTEMPTS a comment is marked ``failed`` and is not returned). A model
    that cannot be loaded sends the comments to review with that reason.
    """
    stored = list(
        Comment.objects.filter(pk__in=comment_ids, status=CommentStatus.QUEUED)
        .order_by("submitted_at", "pk")
        .values_list(
            "pk",
            "text",
            "language",
            "site_id",
            "author_id",
            "story_id",
            "parent_id",
            "site_comment_id",
            "revision",
        )
    )
    if not stored:
        return []
    rows = [(pk, text, lang) for pk, text, lang, *_ in stored]
    site_of = {pk: site_id for pk, _, _, site_id, *_ in stored}
    # The revision each text is (issue 21): a verdict on a text edited meanwhile is not written.
    revisions = {pk: revision for pk, *_, revision in stored}
    signals = dict(
        zip(
            [pk for pk, *_ in stored],
            signals_for(
                [
                    ContextItem(site_id, author, story, text, parent, pk, site_comment_id)
                    for pk, text, _, site_id, author, story, parent, site_comment_id, _ in stored
                ]
            ),
            strict=True,
        )
    )
    try:
        model = current_model()
    except ModelUnavailable as exc:
        record_model_decisions(
            ModelVerdict(pk, None, "", {}, error=str(exc), signals=signals[pk], revision=revisions[pk])
            for pk, _, _ in rows
        )
        return []

    verdicts: list[ModelVerdict] = []
    retry: list[int] = []
    # Each comment's site's thresholds (per-site policy_overrides, issue 5), over its adapter's where one
    # scored the site's comments (issue 20); one read per set of adapters that scored (one, but for a batch
    # scored one by one where an adapter failed on some).
    thresholds_cache: dict[tuple, dict[int, dict]] = {}

    def thresholds(pk: int, scored: SiteScores) -> dict:
        key = tuple(sorted((site_id, adapter.version) for site_id, adapter in scored.adapters.items()))
        if key not in thresholds_cache:
            thresholds_cache[key] = thresholds_by_comment(
                [pk for pk, _, _ in rows],
                model.thresholds,
                {sid: adapted_thresholds(model.thresholds, a) for sid, a in scored.adapters.items()},
            )
        return thresholds_cache[key][pk]

    def verdict(pk: int, text: str, lang: str, scores, scored: SiteScores) -> ModelVerdict:
        return ModelVerdict(
            pk,
            scores,
            model.version,
            thresholds(pk, scored),
            text=text,
            declared_language=lang,
            signals=signals[pk],
            revision=revisions[pk],
            adapter_version=scored.adapter_version(site_of[pk]),
        )

    try:
        scored = score_for_sites(model, [text for _, text, _ in rows], [site_of[pk] for pk, _, _ in rows])
    except Exception:
        log.exception("batch scoring of %d comments failed; scoring one by one", len(rows))
        for pk, text, lang in rows:
            try:
                one = score_for_sites(model, [text], [site_of[pk]])
                (scores,) = one.scores
            except Exception as exc:
                log.exception("scoring comment %s failed", pk)
                comment = record_scoring_failure(
                    pk, f"{type(exc).__name__}: {exc}", settings.MODERATION_MAX_ATTEMPTS
                )
                if comment is not None and comment.status == CommentStatus.QUEUED:
                    retry.append(pk)
                continue
            verdicts.append(verdict(pk, text, lang, scores, one))
    else:
        # Outside the try: a failure reading the thresholds is not a scoring failure to retry one by one.
        verdicts = [
            verdict(pk, text, lang, scores, scored)
            for (pk, text, lang), scores in zip(rows, scored.scores, strict=True)
        ]
    record_model_decisions(verdicts)
    return retry


def submit_and_decide(site: Site, cleans: list[dict], source: str = "celery") -> list[int]:
    """Store validated submissions and decide them, scoring before writing so each new comment costs one
    transaction (comment, decision and audit rows together). Ids already stored are not stored again: a new
    text under one is an edit, queued again (``revise_comments``); any of them still queued are decided.
    Returns the ids to retry, as ``decide_comments`` does."""
    unique: dict[str, dict] = {}
    for clean in cleans:
        unique.setdefault(clean["site_comment_id"], clean)
    stored = list(Comment.objects.filter(site=site, site_comment_id__in=list(unique)))
    edits = [unique[c.site_comment_id] for c in stored if is_edit(c, unique[c.site_comment_id])]
    if edits:
        revised = {c.site_comment_id: c for c in revise_comments(site, edits)}
        stored = [revised.get(c.site_comment_id, c) for c in stored]
    known = {c.site_comment_id for c in stored}
    new = [clean for sid, clean in unique.items() if sid not in known]
    retry: list[int] = []
    queued = [c.pk for c in stored if c.status == CommentStatus.QUEUED]  # just read (or revised) above
    if queued:
        retry += decide_comments(queued)
    if not new:
        return retry
    verdicts = None
    signals = signals_for(
        [
            ContextItem(
                site.pk,
                clean["author_id"],
                clean["story_id"],
                clean["text"],
                clean.get("parent_id") or "",
                site_comment_id=clean["site_comment_id"],
            )
            for clean in new
        ]
    )
    try:
        model = current_model()
    except ModelUnavailable as exc:
        verdicts = [ModelVerdict(0, None, "", {}, error=str(exc), signals=found) for found in signals]
    else:
        try:
            scored = score_for_sites(model, [clean["text"] for clean in new], [site.pk] * len(new))
            # The site's thresholds (over its adapter's, if one scored), and a story's stricter ones where it
            # has them (issue 21).
            thresholds, by_story = thresholds_by_story(
                site, {c["story_id"] for c in new}, scored.thresholds(model.thresholds, site.pk)
            )
            adapter_version = scored.adapter_version(site.pk)
            verdicts = [
                ModelVerdict(
                    0,
                    scores,
                    model.version,
                    by_story.get(clean["story_id"], thresholds),
                    text=clean["text"],
                    declared_language=clean["language"],
                    signals=found,
                    adapter_version=adapter_version,
                )
                for clean, scores, found in zip(new, scored.scores, signals, strict=True)
            ]
        except Exception:
            log.exception(
                "scoring %d new comments failed; storing them queued and scoring one by one", len(new)
            )
    if verdicts is not None and accept_decided_comments(site, new, verdicts, source) is not None:
        return retry
    # A scoring error, or a concurrent submission of one of these ids: the general path copes with both.
    stored = accept_comments(site, new, source)
    return retry + decide_comments(sorted({comment.pk for comment, _ in stored}))


@dataclass(frozen=True)
class Submissions:
    """What ``submit_payloads`` did with a message's payloads: how many it accepted, each refused one (its
    index, field and message), and the stored comments whose scoring failed and should be decided again."""

    accepted: int
    refused: list[dict[str, Any]]
    retry: list[int]


def submit_payloads(site_slug: str | None, payloads: list[Any]) -> Submissions:
    """The Celery path's way in: validate each payload (an invalid one is logged and dropped, the rest go on:
    a message is never retried for bad input), then store and decide the valid ones for the site
    ``site_slug`` (the default site if None) with ``submit_and_decide``."""
    cleans, refused = [], []
    for index, payload in enumerate(payloads):
        try:
            cleans.append(validate_submission(payload))
        except SubmissionError as exc:
            sid = payload.get("site_comment_id") if isinstance(payload, dict) else None
            log.warning("submission %d refused (site_comment_id=%r): %s", index, sid, exc)
            refused.append({"index": index, "field": exc.field, "message": exc.message})
    retry = submit_and_decide(get_or_create_site(site_slug or DEFAULT_SITE_SLUG), cleans) if cleans else []
    return Submissions(len(cleans), refused, retry)


def requeue_stale(older_than_seconds: int) -> tuple[int, int]:
    """Re-enqueue comments queued longer than ``older_than_seconds``. Returns (sent, left unsent)."""
    ids = stale_queued_comment_ids(older_than_seconds)
    size = settings.MODERATION_DISPATCH_BATCH
    for start in range(0, len(ids), size):
        if not enqueue_decide(ids[start : start + size]):
            return start, len(ids) - start
    return len(ids), 0
