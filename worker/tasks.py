"""Celery tasks: thin wrappers over moderation's services, keyword arguments in, one service call.

Every task is declared with ``moderation_task``, the one decorator that carries the project's task options: an
explicit name (the contract with the senders, ``moderation.queue``), bound, and the retry policy for a
briefly unavailable database (``DB_RETRY``: backoff with jitter, then the reconciler takes over, since the
comment stays queued in the database). The tasks are idempotent (a comment is stored once per site and id,
and decided once per text), which is what makes ``acks_late`` safe: a message redelivered after a worker
died changes nothing that was already written.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from moderation.services import apply_retention as truncate_old_ips
from moderation.services import requeue_stale as requeue_stale_comments
from moderation.services.community import report_from_task
from moderation.services.ingest import decide_comments as decide
from moderation.services.ingest import submit_payloads
from moderation.services.shadow import score_pending
from moderation.webhooks import deliver

log = logging.getLogger(__name__)

DB_RETRY = dict(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=12,
)


def moderation_task(name: str, **options):
    """``shared_task`` with this project's options: ``name`` (never the function's import path), bound, and
    ``DB_RETRY``; ``options`` add to them (``ignore_result``...)."""
    return shared_task(name=name, bind=True, **{**DB_RETRY, **options})


def decide_later(comment_ids: list[int]) -> None:
    """The comments are stored; their scoring failed (each failure counted, see
    ``services.comments.record_scoring_failure``): decide them again in a second, in a message of their
    own."""
    if comment_ids:
        decide_comments.apply_async(kwargs={"comment_ids": comment_ids}, countdown=1)


@moderation_task("moderation.submit_comment")
def submit_comment(self, site: str | None = None, **payload) -> dict:
    """A site's comment: validate, store once, decide. An invalid payload is logged and dropped (never
    retried)."""
    done = submit_payloads(site, [payload])
    decide_later(done.retry)
    if done.refused:
        return {"error": {key: done.refused[0][key] for key in ("field", "message")}}
    return {"site_comment_id": str(payload.get("site_comment_id"))}


@moderation_task("moderation.decide_comments")
def decide_comments(self, comment_ids: list[int]) -> dict:
    """Decide stored comments by id (those no longer queued are skipped)."""
    retry = decide([int(pk) for pk in comment_ids])
    if retry:
        raise self.retry(kwargs={"comment_ids": retry}, countdown=2 ** min(self.request.retries, 6))
    return {"decided": len(comment_ids) - len(retry)}


@moderation_task("moderation.submit_comments")
def submit_comments(self, comments: list[dict], site: str | None = None) -> dict:
    """Many comments in one message (same fields as ``submit_comment`` each): validated one by one (invalid
    ones are logged and dropped, the rest go on), stored with bulk writes, decided in one model call."""
    done = submit_payloads(site, comments)
    decide_later(done.retry)
    return {"accepted": done.accepted, "refused": done.refused}


@moderation_task("moderation.report_comment")
def report_comment_task(
    self,
    site: str | None = None,
    site_comment_id: str | None = None,
    comment_id: int | None = None,
    **payload,
) -> dict:
    """A reader's report (issue 21) of the site's comment ``site_comment_id`` (or our ``comment_id``), with
    ``reporter_id`` and ``reason``. A refused report (bad field, unknown comment, reader over the limit) is
    logged and dropped, never retried."""
    return report_from_task(site, payload, site_comment_id or "", comment_id)


@moderation_task("moderation.requeue_stale", ignore_result=True)
def requeue_stale(self) -> dict:
    """The reconciler (Celery beat): re-enqueue comments queued longer than MODERATION_STALE_AFTER_SECONDS."""
    sent, left = requeue_stale_comments(settings.MODERATION_STALE_AFTER_SECONDS)
    return {"sent": sent, "left": left}


@moderation_task("worker.noop", ignore_result=True)
def noop(self) -> None:
    """Does nothing: the benchmark's measure of Celery's own per-message cost in the same worker layout."""


# --- Webhooks (moderation/webhooks.py) ----------------------------------------------------------------------
# The HTTP retry schedule (backoff with jitter for 26 h) lives in the outbox rows, not in Celery retries: a
# delivery survives broker loss and worker restarts. The decorator retries only a briefly unavailable
# database.


@moderation_task("moderation.deliver_webhooks", ignore_result=True)
def deliver_webhooks(self, delivery_ids: list[int]) -> dict:
    """Send these outbox rows if they are still pending and due (enqueued on commit of the decision)."""
    return deliver([int(pk) for pk in delivery_ids])


@moderation_task("moderation.reconcile_webhooks", ignore_result=True)
def reconcile_webhooks(self) -> dict:
    """The reconciler (Celery beat): send every pending outbox row whose (re)try is due."""
    return deliver(None)


# --- Privacy (issue 5, moderation/services/privacy.py) ----------------------------------------------------


@moderation_task("moderation.apply_retention", ignore_result=True)
def apply_retention(self) -> dict:
    """Celery beat: truncate IP addresses older than MODERATION_IP_RETENTION_DAYS. Idempotent."""
    return {"truncated": truncate_old_ips()}


@moderation_task("moderation.shadow_score", ignore_result=True)
def shadow_score(self) -> dict:
    """Shadow mode (Celery beat): score recently decided comments with the shadow model, if one is set. Runs
    apart from the decisions, so a slow or failing shadow never delays or changes one."""
    return {"scored": score_pending()}
