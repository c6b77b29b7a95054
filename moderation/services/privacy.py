"""Privacy writes: the IP retention job and erasing an author (the HTTP view is ``api/privacy.py``).

- ``apply_retention()`` (Celery beat task ``moderation.apply_retention``): IP addresses of comments submitted
  more than ``MODERATION_IP_RETENTION_DAYS`` ago are truncated — IPv4 to its /24, IPv6 to its /48 — enough to
  tell networks apart in an abuse investigation, no longer one subscriber.
- ``erase_author(site, author_id)`` (``manage.py erase_author SITE AUTHOR_ID`` and ``POST
  /api/v1/authors/<author_id>:erase``): every comment of that author on that site loses its text, author id
  and name, IP address, user agent, scores and reasons; the copies in decisions, audit entries and webhook
  outbox rows go too; a comment still queued is marked ``erased`` so no worker scores it. What is left is a
  tombstone (the site's comment id, story, times, status ``erased``, the outcome of each decision and who made
  it) and one ``author_erased`` audit entry that names the comments, not the author. The author's Celery-path
  submissions still waiting in the broker's queues are removed first (``drop_queued_submissions``)."""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from moderation.models import (
    AuditEntry,
    Comment,
    CommentStatus,
    Decision,
    Report,
    Site,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from moderation.queue import producer, queue_names
from moderation.services.sites import DEFAULT_SITE_SLUG

log = logging.getLogger(__name__)

ERASED_AUTHOR = "[erased]"
RETENTION_CHUNK = 1000


# --- IP retention -------------------------------------------------------------------------------------------


def truncate_ip(ip: str) -> str:
    """The network of ``ip``: IPv4 /24 (``203.0.113.7`` → ``203.0.113.0``), IPv6 /48."""
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def apply_retention(now: datetime | None = None, days: int | None = None) -> int:
    """Truncate the IP addresses of comments submitted more than ``days`` (default
    MODERATION_IP_RETENTION_DAYS) ago and not truncated yet, in chunks of short transactions. Returns how
    many were truncated. Running it again changes nothing."""
    days = settings.MODERATION_IP_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    done = 0
    while True:
        with transaction.atomic():
            chunk = list(
                Comment.objects.select_for_update()
                .filter(ip__isnull=False, ip_truncated=False, submitted_at__lt=cutoff)
                .order_by("pk")
                .only("pk", "ip")[:RETENTION_CHUNK]
            )
            if not chunk:
                return done
            for comment in chunk:
                comment.ip = truncate_ip(comment.ip)
                comment.ip_truncated = True
            Comment.objects.bulk_update(chunk, ["ip", "ip_truncated"])
        done += len(chunk)
        log.info(
            "retention: truncated %d IP addresses", len(chunk), extra={"comment_ids": [c.pk for c in chunk]}
        )


# --- Erasing an author --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    comment_ids: list[int]
    audit_id: int | None
    dropped_submissions: int = 0


SUBMIT_TASKS = ("moderation.submit_comment", "moderation.submit_comments")


def _without_author(raw: bytes, site_slug: str, author_id: str) -> tuple[bool, bytes | None]:
    """For one raw kombu message on a queue: (it carries the author's submission, the message to put back
    with the other submissions it carries, or None)."""
    try:
        message = json.loads(raw)
        if message.get("headers", {}).get("task") not in SUBMIT_TASKS:
            return False, None
        encoded = message["body"]
        body_bytes = (
            base64.b64decode(encoded) if message["properties"].get("body_encoding") == "base64" else encoded
        )
        args, kwargs, embed = json.loads(body_bytes)
    except (ValueError, KeyError, TypeError):
        return False, None  # not a message this code wrote or understands: left alone
    if (kwargs.get("site") or DEFAULT_SITE_SLUG) != site_slug:
        return False, None
    if message["headers"]["task"] == "moderation.submit_comment":
        return str(kwargs.get("author_id")) == author_id, None
    items = kwargs.get("comments") if isinstance(kwargs.get("comments"), list) else []
    keep = [
        item for item in items if not (isinstance(item, dict) and str(item.get("author_id")) == author_id)
    ]
    if len(keep) == len(items):
        return False, None
    if not keep:
        return True, None
    body = json.dumps([args, {**kwargs, "comments": keep}, embed]).encode()
    message["body"] = (
        base64.b64encode(body).decode()
        if message["properties"].get("body_encoding") == "base64"
        else body.decode()
    )
    return True, json.dumps(message).encode()


def drop_queued_submissions(site: Site, author_id: str) -> int:
    """Remove the author's Celery-path submissions for ``site`` that wait in the broker's queues, not yet
    stored (a ``submit_comments`` message loses only that author's items). Returns how many messages were
    changed. Messages a worker has already reserved are not reachable here: the worker stores them within
    moments, so a second erase a minute later finds them. A broker that cannot be reached is logged and
    skipped (0)."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    changed = 0
    try:
        with producer().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
            channel = conn.default_channel
            # kombu's Redis client adds the global key prefix to some commands (LPUSH) and not others
            # (LRANGE, LREM), so the full key is passed to those.
            client = channel.client
            for queue in queue_names():
                for priority in channel.priority_steps:
                    key = channel._q_for_pri(queue, priority)
                    for raw in client.execute_command("LRANGE", prefix + key, 0, -1):
                        carries, replacement = _without_author(raw, site.slug, author_id)
                        if not carries:
                            continue
                        if client.execute_command("LREM", prefix + key, 1, raw):
                            changed += 1
                            if replacement is not None:
                                client.lpush(key, replacement)
    except Exception as exc:  # the database erasure still goes ahead; the log says what was not done
        log.warning("erase: broker queues not scanned (%s); queued submissions may still be stored", exc)
    return changed


def erase_author(site: Site, author_id: str, actor_label: str = "system") -> Erasure:
    """Erase everything personal about ``author_id`` on ``site`` (see the module docstring) in one
    transaction, with an ``author_erased`` audit entry. Comments of the same author id on other sites are
    not touched. Returns the erased comment ids (empty, and nothing written, if the author has no comment
    on the site)."""
    dropped = drop_queued_submissions(site, author_id)
    now = timezone.now()
    with transaction.atomic():
        # Locked: a worker deciding one of these comments waits, then finds it no longer queued and skips
        # it.
        comments = list(
            Comment.objects.select_for_update().filter(site=site, author_id=author_id).order_by("pk")
        )
        if not comments and not dropped:
            return Erasure([], None)
        ids = [c.pk for c in comments]
        Comment.objects.filter(pk__in=ids).update(
            text="",
            author_id=ERASED_AUTHOR,
            author_name="",
            ip=None,
            ip_truncated=False,
            user_agent="",
            scores={},
            reasons=[],
            last_error="",
            status=CommentStatus.ERASED,
            erased_at=now,
            text_fingerprint="",
        )
        # Issue 21: readers' reports of these comments (their reasons quote them), and this author's own
        # reports as a reader. A commenter state the site set (a ban) stays: it is the site's decision.
        Report.objects.filter(comment_id__in=ids).delete()
        Report.objects.filter(comment__site=site, reporter_id=author_id).delete()
        AuditEntry.objects.filter(action="reported", comment__site=site, after__reporter_id=author_id).update(
            after={"erased": True}
        )
        Decision.objects.filter(comment_id__in=ids).update(scores={}, reasons=[], note="")
        AuditEntry.objects.filter(comment_id__in=ids).update(before={"erased": True}, after={"erased": True})
        # Outbox copies of the decisions (scores, reasons): replaced; pending ones are not sent any more.
        tombstone = json.dumps({"erased": True})
        WebhookDelivery.objects.filter(comment_id__in=ids, status=WebhookDeliveryStatus.PENDING).update(
            status=WebhookDeliveryStatus.FAILED, last_error="not sent: the author's data was erased"
        )
        WebhookDelivery.objects.filter(comment_id__in=ids).update(body=tombstone)
        audit = AuditEntry.objects.create(
            actor_label=actor_label,
            action="author_erased",
            after={
                "site": site.slug,
                "comments": len(ids),
                "comment_ids": ids[:1000],
                "queued_submissions_dropped": dropped,
            },
        )
    log.info(
        "erased the data of one author on site %s", site.slug, extra={"comment_ids": ids, "site": site.slug}
    )
    return Erasure(ids, audit.pk, dropped)
