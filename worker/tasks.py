"""Celery tasks: thin wrappers over moderation's services and the scoring pipeline.

Both are idempotent (a comment is stored once per site and id, and decided once), which is what makes
``acks_late`` safe: a message redelivered after a worker died changes nothing that was already written.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from moderation.models import Comment
from moderation.services import DEFAULT_SITE_SLUG, ReportRateLimited, get_or_create_site, report_site_comment
from moderation.services import apply_retention as truncate_old_ips
from moderation.services import requeue_stale as requeue_stale_comments
from moderation.services.ingest import decide_comments as decide
from moderation.services.ingest import submit_and_decide
from moderation.services.shadow import score_pending
from moderation.validation import SubmissionError, validate_report, validate_submission
from moderation.webhooks import deliver

log = logging.getLogger(__name__)

# A database that is briefly unavailable must not lose the message: retry with backoff, then leave it to the
# reconciler (the comment stays queued in the database).
DB_RETRY = dict(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=12,
)


@shared_task(name="moderation.submit_comment", bind=True, **DB_RETRY)
def submit_comment(self, site: str | None = None, **payload) -> dict:
    """A site's comment: validate, store once, decide. Invalid payloads are logged and dropped (never
    retried)."""
    try:
        clean = validate_submission(payload)
    except SubmissionError as exc:
        log.warning("submission refused (site_comment_id=%r): %s", payload.get("site_comment_id"), exc)
        return {"error": {"field": exc.field, "message": exc.message}}
    if submit_and_decide(get_or_create_site(site or DEFAULT_SITE_SLUG), [clean]):
        raise self.retry(kwargs={"site": site, **payload}, countdown=2 ** min(self.request.retries, 6))
    return {"site_comment_id": clean["site_comment_id"]}


@shared_task(name="moderation.decide_comments", bind=True, **DB_RETRY)
def decide_comments(self, comment_ids: list[int]) -> dict:
    """Decide stored comments by id (those no longer queued are skipped)."""
    retry = decide([int(pk) for pk in comment_ids])
    if retry:
        raise self.retry(kwargs={"comment_ids": retry}, countdown=2 ** min(self.request.retries, 6))
    return {"decided": len(comment_ids) - len(retry)}


@shared_task(name="moderation.submit_comments", bind=True, **DB_RETRY)
def submit_comments(self, comments: list[dict], site: str | None = None) -> dict:
    """Many comments in one message (same fields as ``submit_comment`` each): validated one by one (invalid
    ones are logged and dropped, the rest go on), stored with bulk writes, decided in one model call."""
    cleans, refused = [], []
    for index, payload in enumerate(comments):
        try:
            cleans.append(validate_submission(payload))
        except SubmissionError as exc:
            sid = payload.get("site_comment_id") if isinstance(payload, dict) else None
            log.warning("submission %d refused (site_comment_id=%r): %s", index, sid, exc)
            refused.append({"index": index, "field": exc.field, "message": exc.message})
    retry = submit_and_decide(get_or_create_site(site or DEFAULT_SITE_SLUG), cleans) if cleans else []
    if retry:
        # The comments are stored now; retry only the decisions that failed.
        decide_comments.apply_async(kwargs={"comment_ids": retry}, countdown=1)
    return {"accepted": len(cleans), "refused": refused}


@shared_task(name="moderation.report_comment", **DB_RETRY)
def report_comment_task(
    site: str | None = None,
    site_comment_id: str | None = None,
    comment_id: int | None = None,
    **payload,
) -> dict:
    """A reader's report (issue 21) of the site's comment ``site_comment_id`` (or our ``comment_id``), with
    ``reporter_id`` and ``reason``. A refused report (bad field, unknown comment, reader over the limit) is
    logged and dropped, never retried."""
    try:
        clean = validate_report(payload)
    except SubmissionError as exc:
        log.warning("report refused (site_comment_id=%r): %s", site_comment_id, exc)
        return {"error": {"field": exc.field, "message": exc.message}}
    try:
        result = report_site_comment(
            get_or_create_site(site or DEFAULT_SITE_SLUG),
            clean["reporter_id"],
            clean["reason"],
            site_comment_id=site_comment_id or "",
            comment_id=comment_id,
        )
    except (Comment.DoesNotExist, ReportRateLimited) as exc:
        log.warning("report refused: %s", exc)
        field = "reporter_id" if isinstance(exc, ReportRateLimited) else "site_comment_id"
        return {"error": {"field": field, "message": str(exc)}}
    return {
        "comment_id": result.report.comment_id,
        "created": result.created,
        "sent_to_review": result.sent_to_review,
    }


@shared_task(name="moderation.requeue_stale", ignore_result=True)
def requeue_stale() -> dict:
    """The reconciler (Celery beat): re-enqueue comments queued longer than MODERATION_STALE_AFTER_SECONDS."""
    sent, left = requeue_stale_comments(settings.MODERATION_STALE_AFTER_SECONDS)
    return {"sent": sent, "left": left}


@shared_task(name="worker.noop", ignore_result=True)
def noop() -> None:
    """Does nothing: the benchmark's measure of Celery's own per-message cost in the same worker layout."""


# --- Webhooks (moderation/webhooks.py) ----------------------------------------------------------------------
# The HTTP retry schedule (backoff with jitter for 26 h) lives in the outbox rows, not in Celery retries: a
# delivery survives broker loss and worker restarts. The decorator retries only a briefly unavailable
# database.


@shared_task(name="moderation.deliver_webhooks", ignore_result=True, **DB_RETRY)
def deliver_webhooks(delivery_ids: list[int]) -> dict:
    """Send these outbox rows if they are still pending and due (enqueued on commit of the decision)."""
    return deliver([int(pk) for pk in delivery_ids])


@shared_task(name="moderation.reconcile_webhooks", ignore_result=True, **DB_RETRY)
def reconcile_webhooks() -> dict:
    """The reconciler (Celery beat): send every pending outbox row whose (re)try is due."""
    return deliver(None)


# --- Privacy (issue 5, moderation/services/privacy.py) ----------------------------------------------------


@shared_task(name="moderation.apply_retention", ignore_result=True, **DB_RETRY)
def apply_retention() -> dict:
    """Celery beat: truncate IP addresses older than MODERATION_IP_RETENTION_DAYS. Idempotent."""
    return {"truncated": truncate_old_ips()}


@shared_task(name="moderation.shadow_score", ignore_result=True, **DB_RETRY)
def shadow_score() -> dict:
    """Shadow mode (Celery beat): score recently decided comments with the shadow model, if one is set. Runs
    apart from the decisions, so a slow or failing shadow never delays or changes one."""
    return {"scored": score_pending()}
