"""Writes about a site's community (issue 21): a commenter's state (trusted, normal, pre-moderated, suspended,
banned) and readers' reports of comments. Each writes its audit entry in the same transaction; a comment sent
back to review by reports writes its webhook outbox row there too."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from moderation.models import (
    AuditEntry,
    Comment,
    Commenter,
    CommenterState,
    CommentStatus,
    Report,
    Site,
)
from moderation.policy import SEVERITY
from moderation.ratelimit import check_report_rate
from moderation.services.sites import DEFAULT_SITE_SLUG, get_or_create_site
from moderation.validation import (
    SubmissionError,
    validate_author_id,
    validate_commenter,
    validate_link_domains,
    validate_report,
)
from moderation.webhooks import write_outbox

log = logging.getLogger(__name__)

# The webhook event's ``decision`` and the audit action when readers' reports send a comment back to review.
REPORTED_BACK = "reported"
# Comment.decided_by when readers' reports sent it back to review.
DECIDED_BY_REPORTS = "reports"


# --- Commenter states ---------------------------------------------------------------------------------------


def commenter_snapshot(commenter: Commenter | None) -> dict[str, Any]:
    if commenter is None:
        return {"state": CommenterState.NORMAL.value, "until": None, "reason": ""}
    return {
        "state": commenter.state,
        "until": commenter.until.isoformat() if commenter.until else None,
        "reason": commenter.reason,
    }


def set_commenter_state(
    site: Site,
    author_id: str,
    data: Mapping[str, Any],
    actor_label: str,
    actor: AbstractBaseUser | None = None,
) -> Commenter:
    """Set the state of commenter ``author_id`` on ``site`` from ``data`` (``{"state", "until", "reason"}``,
    checked by ``validation.validate_commenter``), as ``actor_label`` (a moderator's username, or
    ``site:<slug>`` for the API), with a ``commenter_state`` audit entry (before/after) in the same
    transaction. Applies to comments decided from now on. Raises SubmissionError naming the bad field
    (``author_id`` too)."""
    author_id = validate_author_id(author_id)
    clean = validate_commenter(data, timezone.now())
    with transaction.atomic():
        commenter = Commenter.objects.select_for_update().filter(site=site, author_id=author_id).first()
        before = commenter_snapshot(commenter)
        if commenter is None:
            commenter = Commenter(site=site, author_id=author_id)
        commenter.state, commenter.until, commenter.reason = clean["state"], clean["until"], clean["reason"]
        commenter.updated_by = actor_label
        commenter.save()
        AuditEntry.objects.create(
            actor=actor,
            actor_label=actor_label,
            action="commenter_state",
            before={"site": site.slug, "author_id": author_id, **before},
            after={"site": site.slug, "author_id": author_id, **commenter_snapshot(commenter)},
        )
    return commenter


# --- Link domains ------------------------------------------------------------------------------------------


def set_link_domains(
    site: Site,
    allowed: Iterable[str],
    denied: Iterable[str],
    actor_label: str,
    hold_links: bool | None = None,
) -> Site:
    """Replace ``site``'s allowed and denied link domains (lower-cased, stripped, without repeats; each covers
    its subdomains), and with ``hold_links`` not None whether every commenter's links are held (not only new
    commenters'), with a ``link_domains_changed`` audit entry (before/after) in the same transaction.
    Raises django ValidationError naming the list and the entry."""

    def tidy(domains: Iterable[str]) -> list:
        cleaned = (d.strip().lower() if isinstance(d, str) else d for d in domains)
        return list(dict.fromkeys(d for d in cleaned if d != ""))  # anything not a string: refused below

    lists = {"allowed_link_domains": tidy(allowed), "denied_link_domains": tidy(denied)}
    for name, domains in lists.items():
        validate_link_domains(name, domains)
    if hold_links is not None and not isinstance(hold_links, bool):
        raise ValidationError(f"hold_links: must be true or false, got {hold_links!r}")
    after = {**lists, "hold_links": site.hold_links if hold_links is None else hold_links}
    with transaction.atomic():
        before = {name: list(getattr(site, name) or []) for name in lists} | {"hold_links": site.hold_links}
        for name, value in after.items():
            setattr(site, name, value)
        site.save(update_fields=list(after))
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="link_domains_changed",
            before={"site": site.slug, **before},
            after={"site": site.slug, **after},
        )
    return site


# --- Reader reports -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    """What one report did: the report (new or the reader's earlier one), whether it is new, the comment's
    open reports from distinct readers, and whether it sent the comment back to review."""

    report: Report
    created: bool
    open_reports: int
    sent_to_review: bool


class ReportRateLimited(Exception):
    """The reader sent more reports than ``MODERATION_REPORTS_PER_WINDOW`` in the current window."""

    def __init__(self, limit: int, retry_after: int):
        self.limit, self.retry_after = limit, retry_after
        super().__init__(
            f"this reader sent more than {limit} reports in this window; send again in {retry_after} s"
        )


def report_comment(comment: Comment, reporter_id: str, reason: str) -> ReportResult:
    """Record reader ``reporter_id``'s report of ``comment`` (validated by ``validation.validate_report``).

    One report per reader and comment: a second report by the same reader changes nothing (it still counts
    against the reader's limit: sending is what the limit limits). When the comment is approved and its open
    reports come from ``site.report_threshold`` distinct readers or more, it goes back to review: status
    needs_review with the reason and code "reported", an audit entry and a webhook event (decision
    "reported"), in the report's transaction; a moderator's decision closes the reports
    (``resolve_reports``). Raises ReportRateLimited when the reader is over the limit (nothing written)."""
    rate = check_report_rate(comment.site_id, reporter_id)
    if not rate.allowed:
        raise ReportRateLimited(rate.limit, rate.retry_after)
    created = True
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the reader's earlier report wins the unique constraint
                report = Report.objects.create(comment=comment, reporter_id=reporter_id, reason=reason)
                AuditEntry.objects.create(
                    actor_label="site:" + comment.site.slug,
                    action="reported",
                    comment=comment,
                    after={"reporter_id": reporter_id, "reason": reason},
                )
        except IntegrityError:
            report = Report.objects.get(comment=comment, reporter_id=reporter_id)
            created = False
        sent, open_reports = _back_to_review_if_reported(comment.pk)
    return ReportResult(report, created, open_reports, sent)


def report_site_comment(
    site: Site, reporter_id: str, reason: str, site_comment_id: str = "", comment_id: int | None = None
) -> ReportResult:
    """``report_comment`` for the comment of ``site`` known by the site's ``site_comment_id`` (or by our
    ``comment_id``): the Celery task's way in. Raises Comment.DoesNotExist naming it, or ReportRateLimited."""
    comments = Comment.objects.filter(site=site).exclude(status=CommentStatus.ERASED).select_related("site")
    found = (
        comments.filter(pk=comment_id)
        if comment_id is not None
        else comments.filter(site_comment_id=site_comment_id)
    )
    comment = found.first()
    if comment is None:
        raise Comment.DoesNotExist(f"no comment {site_comment_id or comment_id!r} on site {site.slug}")
    return report_comment(comment, reporter_id, reason)


def report_from_task(
    site_slug: str | None, payload: dict[str, Any], site_comment_id: str = "", comment_id: int | None = None
) -> dict[str, Any]:
    """The Celery task's report (``moderation.report_comment``): validated, then ``report_site_comment``. A
    refused report (a bad field, an unknown comment, a reader over the limit) is logged and answered as
    ``{"error": {"field", "message"}}``, never raised: retrying would not change it."""
    try:
        clean = validate_report(payload)
        result = report_site_comment(
            get_or_create_site(site_slug or DEFAULT_SITE_SLUG),
            clean["reporter_id"],
            clean["reason"],
            site_comment_id=site_comment_id or "",
            comment_id=comment_id,
        )
    except SubmissionError as exc:
        log.warning("report refused (site_comment_id=%r): %s", site_comment_id, exc)
        return {"error": {"field": exc.field, "message": exc.message}}
    except (Comment.DoesNotExist, ReportRateLimited) as exc:
        log.warning("report refused: %s", exc)
        field = "reporter_id" if isinstance(exc, ReportRateLimited) else "site_comment_id"
        return {"error": {"field": field, "message": str(exc)}}
    return {
        "comment_id": result.report.comment_id,
        "created": result.created,
        "sent_to_review": result.sent_to_review,
    }


def _back_to_review_if_reported(comment_id: int) -> tuple[bool, int]:
    with transaction.atomic():
        comment = Comment.objects.select_for_update().select_related("site").get(pk=comment_id)
        open_reports = Report.objects.filter(comment=comment, resolved_at__isnull=True).count()
        threshold = comment.site.report_threshold
        if comment.status != CommentStatus.APPROVED or open_reports < threshold:
            return False, open_reports
        before = {"status": comment.status, "decided_by": comment.decided_by}
        readers = f"{open_reports} reader" + ("s" if open_reports != 1 else "")
        reason = f"reported by {readers} (the site's threshold is {threshold})"
        comment.status = CommentStatus.NEEDS_REVIEW
        comment.reasons = [reason, *(comment.reasons or [])]
        comment.reason_codes = list(dict.fromkeys([REPORTED_BACK, *(comment.reason_codes or [])]))
        comment.severity = max(comment.severity, SEVERITY[REPORTED_BACK])
        comment.decided_by, comment.decided_at = DECIDED_BY_REPORTS, timezone.now()
        comment.save(
            update_fields=["status", "reasons", "reason_codes", "severity", "decided_by", "decided_at"]
        )
        AuditEntry.objects.create(
            actor_label=DECIDED_BY_REPORTS,
            action="reported_to_review",
            comment=comment,
            before=before,
            after={"status": comment.status, "decided_by": comment.decided_by, "open_reports": open_reports},
        )
        write_outbox([comment], REPORTED_BACK, REPORTED_BACK)
    return True, open_reports


def resolve_reports(comments: Iterable[Comment], resolved_by: str, now: datetime) -> int:
    """Close the open reports of ``comments`` (a moderator decided them), to be called INSIDE the transaction
    that records the decision. Returns how many were closed."""
    ids = [c.pk for c in comments]
    if not ids:
        return 0
    return Report.objects.filter(comment_id__in=ids, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=resolved_by
    )


def reopen_reports(comment_ids: Iterable[int], resolved_by: str, resolved_at: datetime) -> int:
    """Open again the reports that ``resolved_by``'s decision at ``resolved_at`` closed (that decision was
    undone), INSIDE the undo's transaction. Returns how many."""
    return Report.objects.filter(
        comment_id__in=list(comment_ids), resolved_by=resolved_by, resolved_at=resolved_at
    ).update(resolved_at=None, resolved_by="")
