"""Every state change of the moderation domain, one function each. Each writes its audit entry in the same
transaction as the change, so nothing is decided without a trace and no trace exists without its change."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from .decision_policy import apply_policy
from .models import ApiKey, AuditEntry, Comment, CommentStatus, Decision, DecisionKind, Site

log = logging.getLogger(__name__)

DEFAULT_SITE_SLUG = "default"
API_KEY_PREFIX = "mod_"


# --- Sites and keys -----------------------------------------------------------------------------------------------


def get_or_create_site(slug: str = DEFAULT_SITE_SLUG, name: str | None = None) -> Site:
    site, _ = Site.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return site


def create_api_key(site: Site, raw_key: str | None = None, name: str = "default") -> tuple[ApiKey, str]:
    """Store a key for ``site`` (a new random one unless ``raw_key`` is given) and return it with the raw key,
    which is not stored and cannot be shown again."""
    raw_key = raw_key or API_KEY_PREFIX + secrets.token_urlsafe(32)
    key, _ = ApiKey.objects.get_or_create(
        key_hash=ApiKey.hash_key(raw_key), defaults={"site": site, "name": name, "prefix": raw_key[:10]}
    )
    return key, raw_key


def site_for_api_key(raw_key: str) -> Site | None:
    """The site a raw API key belongs to, or None for an unknown or revoked key."""
    if not raw_key:
        return None
    key = (
        ApiKey.objects.select_related("site")
        .filter(key_hash=ApiKey.hash_key(raw_key), revoked_at__isnull=True)
        .first()
    )
    return key.site if key else None


# --- Ingestion ----------------------------------------------------------------------------------------------------


def _snapshot(comment: Comment) -> dict[str, Any]:
    return {
        "status": comment.status,
        "decided_by": comment.decided_by,
        "scores": comment.scores,
        "model_version": comment.model_version,
    }


def accept_comment(site: Site, clean: Mapping[str, Any], source: str) -> tuple[Comment, bool]:
    """Store a validated submission as ``queued``. Returns (comment, created); a second submission of the same
    ``site_comment_id`` returns the stored comment unchanged and ``created=False``."""
    existing = Comment.objects.filter(site=site, site_comment_id=clean["site_comment_id"]).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            comment = Comment.objects.create(site=site, source=source, **clean)
            AuditEntry.objects.create(
                actor_label="site:" + site.slug,
                action="submitted",
                comment=comment,
                after={"status": comment.status, "source": source},
            )
    except IntegrityError:
        # Lost a race with an identical submission: the other one is the comment.
        return Comment.objects.get(site=site, site_comment_id=clean["site_comment_id"]), False
    return comment, True


# --- Automatic decisions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelVerdict:
    """What the scoring engine said about one comment: scores, or the error that kept it from scoring."""

    comment_id: int
    scores: Mapping[str, float] | None
    model_version: str
    thresholds: Mapping[str, Mapping[str, float]]
    error: str = ""


def record_model_decisions(verdicts: Iterable[ModelVerdict]) -> list[Comment]:
    """Write the automatic decision of each verdict, in one transaction, exactly once per comment.

    A comment that is no longer ``queued`` (decided by an earlier delivery of the same task) is left as it is.
    A verdict with an error (the model could not score) sends the comment to review with that reason: a comment
    is never approved without scores. Returns the comments decided by this call.
    """
    verdicts = list(verdicts)
    decided: list[Comment] = []
    now = timezone.now()
    with transaction.atomic():
        comments = {
            c.pk: c
            for c in Comment.objects.select_for_update().filter(
                pk__in=[v.comment_id for v in verdicts], status=CommentStatus.QUEUED
            )
        }
        decisions, audits = [], []
        for verdict in verdicts:
            comment = comments.pop(verdict.comment_id, None)
            if comment is None:
                continue
            before = _snapshot(comment)
            if verdict.scores is None:
                outcome, reasons, scores = CommentStatus.NEEDS_REVIEW, [f"model could not score: {verdict.error}"], {}
            else:
                result = apply_policy(verdict.scores, verdict.thresholds)
                outcome, reasons, scores = result.outcome, result.reasons, dict(verdict.scores)
            comment.status = outcome
            comment.scores = scores
            comment.reasons = reasons
            comment.model_version = verdict.model_version
            comment.decided_at = now
            comment.decided_by = "model"
            comment.last_error = verdict.error
            decisions.append(
                Decision(
                    comment=comment,
                    kind=DecisionKind.AUTOMATIC,
                    outcome=outcome,
                    scores=scores,
                    reasons=reasons,
                    model_version=verdict.model_version,
                )
            )
            audits.append(
                AuditEntry(
                    actor_label="model",
                    action="auto_" + outcome,
                    comment=comment,
                    before=before,
                    after=_snapshot(comment),
                )
            )
            decided.append(comment)
        if decided:
            Comment.objects.bulk_update(
                decided,
                ["status", "scores", "reasons", "model_version", "decided_at", "decided_by", "last_error"],
            )
            Decision.objects.bulk_create(decisions)
            AuditEntry.objects.bulk_create(audits)
    return decided


def record_scoring_failure(comment_id: int, error: str, max_attempts: int) -> Comment | None:
    """Count one failed attempt at scoring a comment. After ``max_attempts`` the comment is marked ``failed``
    with its error (visible in the Failed queue) so the comments behind it keep flowing. Returns the comment, or
    None if it is no longer queued."""
    with transaction.atomic():
        comment = Comment.objects.select_for_update().filter(pk=comment_id, status=CommentStatus.QUEUED).first()
        if comment is None:
            return None
        comment.attempts += 1
        comment.last_error = error[:2000]
        fields = ["attempts", "last_error"]
        if comment.attempts >= max_attempts:
            before = _snapshot(comment)
            comment.status = CommentStatus.FAILED
            fields.append("status")
            AuditEntry.objects.create(
                actor_label="system",
                action="failed",
                comment=comment,
                before=before,
                after={**_snapshot(comment), "error": comment.last_error, "attempts": comment.attempts},
            )
        comment.save(update_fields=fields)
        return comment


# --- Moderator actions --------------------------------------------------------------------------------------------


class ActionConflict(Exception):
    """Another moderator (or the model) changed the comment since this moderator saw it."""


MODERATOR_ACTIONS = {"approve": CommentStatus.APPROVED, "reject": CommentStatus.REJECTED}
REJECT_REASON_CODES = ("toxic", "spam", "off_topic", "other")


def apply_moderator_action(
    comment_id: int,
    user: AbstractBaseUser,
    action: str,
    expected_status: str,
    reason_code: str = "",
    note: str = "",
) -> Comment:
    """Approve or reject a comment as ``user``.

    ``expected_status`` is the status the moderator saw; if the comment has changed since, ``ActionConflict`` is
    raised and nothing is written, so the first of two moderators wins and the second is told. Writes the
    comment's new state, a moderator Decision and an AuditEntry (with the model's scores at the time) in one
    transaction. Raises ValueError for an unknown action or reason code.
    """
    if action not in MODERATOR_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(MODERATOR_ACTIONS)}")
    if action == "reject" and reason_code and reason_code not in REJECT_REASON_CODES:
        raise ValueError(f"reason_code must be one of {', '.join(REJECT_REASON_CODES)}")
    outcome = MODERATOR_ACTIONS[action]
    with transaction.atomic():
        comment = Comment.objects.select_for_update().filter(pk=comment_id).first()
        if comment is None:
            raise Comment.DoesNotExist(f"comment {comment_id} does not exist")
        if comment.status != expected_status:
            raise ActionConflict(
                f"comment {comment_id} is already {comment.get_status_display().lower()}"
                + (f" by {comment.decided_by}" if comment.decided_by else "")
            )
        before = _snapshot(comment)
        comment.status = outcome
        comment.decided_by = user.get_username()
        comment.decided_at = timezone.now()
        comment.save(update_fields=["status", "decided_by", "decided_at"])
        Decision.objects.create(
            comment=comment,
            kind=DecisionKind.MODERATOR,
            outcome=outcome,
            scores=comment.scores,
            reasons=comment.reasons,
            model_version=comment.model_version,
            moderator=user,
            reason_code=reason_code,
            note=note,
        )
        AuditEntry.objects.create(
            actor=user,
            actor_label=user.get_username(),
            action=action,
            comment=comment,
            before=before,
            after={**_snapshot(comment), "reason_code": reason_code, "note": note},
        )
    return comment
