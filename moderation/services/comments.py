"""Every state change of the moderation domain, one function each. Each writes its audit entry in the same
transaction as the change, so nothing is decided without a trace and no trace exists without its change."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.utils import timezone

from moderation.models import (
    ApiKey,
    AuditEntry,
    Comment,
    CommentStatus,
    Decision,
    DecisionKind,
    Site,
    WebhookEndpoint,
)
from moderation.policy import Signal, thresholds_for
from moderation.scoring import Verdict, judge
from moderation.selectors.desk import stories_with_thresholds
from moderation.services.community import reopen_reports, resolve_reports
from moderation.validation import validate_endpoint, validate_policy_overrides, validate_review_budget
from moderation.webhooks import generate_secret, write_outbox

log = logging.getLogger(__name__)

API_KEY_PREFIX = "mod_"


# --- Sites and keys -----------------------------------------------------------------------------------------


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


# --- Ingestion ----------------------------------------------------------------------------------------------


def _snapshot(comment: Comment) -> dict[str, Any]:
    return {
        "status": comment.status,
        "decided_by": comment.decided_by,
        "scores": comment.scores,
        "model_version": comment.model_version,
        # Only when a site adapter scored it, so entries of sites without one keep their shape.
        **({"adapter_version": comment.adapter_version} if comment.adapter_version else {}),
    }


def accept_comment(site: Site, clean: Mapping[str, Any], source: str) -> tuple[Comment, bool]:
    """Store a validated submission as ``queued``. Returns (comment, created); a second submission of the same
    ``site_comment_id`` returns the stored comment and ``created=False``: unchanged if its text is the same,
    queued again as an edit if the text is new (``revise_comments``; ``comment.revised`` is then True and the
    caller enqueues its decision)."""
    existing = Comment.objects.filter(site=site, site_comment_id=clean["site_comment_id"]).first()
    if existing:
        if is_edit(existing, clean):
            revised = revise_comments(site, [clean])
            if revised:
                return revised[0], False
            existing.refresh_from_db()
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


# --- Automatic decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelVerdict:
    """What the scoring engine said about one comment: scores, or the error that kept it from scoring."""

    comment_id: int
    scores: Mapping[str, float] | None
    model_version: str
    thresholds: Mapping[str, Mapping[str, float]]
    error: str = ""
    # The comment's text and the language the site declared for it, for the language gate: a comment in a
    # language the model was not trained on goes to a person whatever the scores say.
    text: str | None = None
    declared_language: str = ""
    # What the site's context says (commenter state, story controls, word lists: selectors.context).
    signals: tuple[Signal, ...] = ()
    # The comment's revision the scores are for (None: any). A verdict on a text that was edited since is
    # not written: the edit's own decision follows.
    revision: int | None = None
    # The site adapter that re-scored ``scores`` (scoring.score_for_sites), "" for the shared scores.
    adapter_version: str = ""

    def verdict(self) -> Verdict:
        """The decision, built by the one verdict function (``moderation.scoring.judge``)."""
        return judge(
            self.scores,
            self.thresholds,
            self.model_version,
            text=self.text,
            declared_language=self.declared_language,
            error=self.error,
            signals=self.signals,
            adapter_version=self.adapter_version,
        )


def _apply_verdict(comment: Comment, verdict: ModelVerdict, now) -> tuple[Decision, AuditEntry]:
    """Set the automatic decision on ``comment`` (in memory) and return its Decision and AuditEntry rows."""
    before = _snapshot(comment)
    judged = verdict.verdict()
    outcome, reasons, scores = judged.outcome, judged.reasons, judged.scores
    comment.status = outcome
    comment.scores = scores
    comment.reasons = reasons
    comment.reason_codes = judged.codes
    comment.severity = judged.severity
    comment.label_bands = dict(judged.bands)
    comment.model_version = verdict.model_version
    comment.adapter_version = judged.adapter_version
    comment.decided_at = now
    comment.decided_by = "model"
    comment.last_error = verdict.error
    decision = Decision(
        comment=comment,
        kind=DecisionKind.AUTOMATIC,
        outcome=outcome,
        scores=scores,
        reasons=reasons,
        label_bands=dict(judged.bands),
        model_version=verdict.model_version,
        adapter_version=judged.adapter_version,
        revision=comment.revision,
    )
    audit = AuditEntry(
        actor_label="model",
        action="auto_" + outcome,
        comment=comment,
        before=before,
        after=_snapshot(comment),
    )
    return decision, audit


def record_model_decisions(verdicts: Iterable[ModelVerdict]) -> list[Comment]:
    """Write the automatic decision of each verdict, in one transaction, exactly once per comment.

    A comment that is no longer ``queued`` (decided by an earlier delivery of the same task) is left as it is.
    A verdict with an error (the model could not score) sends the comment to review with that reason: a
    comment is never approved without scores. Returns the comments decided by this call.
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
            if comment is None or verdict.revision not in (None, comment.revision):
                continue
            decision, audit = _apply_verdict(comment, verdict, now)
            decisions.append(decision)
            audits.append(audit)
            decided.append(comment)
        if decided:
            _write_decided_state(decided)
            insert_rows(decisions)
            insert_rows(audits)
            write_outbox(decided, "automatic")  # webhooks: outbox rows in the decision's transaction
    return decided


def accept_decided_comments(
    site: Site, cleans: list[Mapping[str, Any]], verdicts: list[ModelVerdict], source: str
) -> list[Comment] | None:
    """Store new submissions already scored (the Celery path scores before it writes), each with its automatic
    decision, in one transaction: comment, decision and both audit entries (submitted, decided) per comment.

    ``verdicts[i]`` belongs to ``cleans[i]`` (its ``comment_id`` is ignored). Returns the stored comments, or
    None if one of the ids was stored concurrently (nothing written; the caller falls back to
    ``accept_comments`` + ``record_model_decisions``, which handle duplicates)."""
    now = timezone.now()
    comments = [Comment(site=site, source=source, **clean) for clean in cleans]
    submitted = [
        AuditEntry(
            actor_label="site:" + site.slug,
            action="submitted",
            comment=comment,
            after={"status": CommentStatus.QUEUED, "source": source},
        )
        for comment in comments
    ]
    rows = [
        _apply_verdict(comment, verdict, now) for comment, verdict in zip(comments, verdicts, strict=True)
    ]
    try:
        with transaction.atomic():
            # Inserted with their decision (one write per row), by executemany; the ids are read back by the
            # unique (site, site_comment_id). bulk_create compiled every row through the ORM: ~0.3 ms a
            # comment.
            # submitted_at = decided_at = now: stamped at insert time, it came out after the decision's time
            insert_rows(comments, timestamp=now)
            ids = dict(
                Comment.objects.filter(
                    site=site, site_comment_id__in=[c.site_comment_id for c in comments]
                ).values_list("site_comment_id", "pk")
            )
            for comment in comments:
                comment.pk = ids[comment.site_comment_id]
                comment._state.adding, comment._state.db = False, connection.alias
            insert_rows([decision for decision, _ in rows], timestamp=now)
            insert_rows(submitted + [audit for _, audit in rows], timestamp=now)
            write_outbox(comments, "automatic")  # webhooks: outbox rows in the decision's transaction
    except IntegrityError:
        return None
    return comments


_DECIDED_FIELDS = (
    "status",
    "scores",
    "reasons",
    "reason_codes",
    "severity",
    "label_bands",
    "model_version",
    "adapter_version",
    "decided_at",
    "decided_by",
    "last_error",
)


_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def insert_rows(objs: list, timestamp=None) -> None:
    """INSERT unsaved model instances of one model with one executemany, for rows whose primary key is not
    needed afterwards (decisions, audit entries). Django's bulk_create compiles each row's SQL values through
    the ORM, about 0.5 ms a row here: most of a batch's write time. Defaults and auto_now_add values are
    applied as a save would (auto_now_add: ``timestamp`` when given, so rows written together carry the
    same time as the decision they record); foreign keys to instances saved since assignment are resolved."""
    if not objs:
        return
    # the object itself: the proxy costs a thread-local lookup a use
    connection = connections[DEFAULT_DB_ALIAS]
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Text, integer and boolean columns take the Python value as it is (what get_db_prep_save would return for
    # a str, int, bool or None); dates, JSON, IP addresses and foreign keys go through the field.
    plain = [isinstance(f, _PLAIN_FIELDS) and not f.is_relation for f in fields]
    stamped = [timestamp is not None and getattr(f, "auto_now_add", False) for f in fields]
    rows = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="insert_rows")
        row = []
        for f, is_plain, stamp in zip(fields, plain, stamped, strict=True):
            if stamp:
                setattr(obj, f.attname, timestamp)
                value = timestamp
            else:
                value = f.pre_save(obj, True)
            if not (is_plain and (value is None or type(value) in (str, int, bool))):
                value = f.get_db_prep_save(value, connection)
            row.append(value)
        rows.append(row)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: one statement for every row; executemany runs one INSERT per row on the server (about
            # half of a batch's write time on PostgreSQL).
            # The raw psycopg cursor: errors are wrapped by hand, so a duplicate is Django's IntegrityError.
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)


def _write_decided_state(comments: list[Comment]) -> None:
    """One parameterised UPDATE run for every comment (executemany). Django's bulk_update builds a CASE
    expression per field and row, which cost ~5 ms a comment here: most of a batch's time."""
    connection = connections[DEFAULT_DB_ALIAS]
    fields = [Comment._meta.get_field(name) for name in _DECIDED_FIELDS]
    table = connection.ops.quote_name(Comment._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    rows = [
        [f.get_db_prep_save(getattr(c, f.attname), connection) for f in fields] + [c.pk] for c in comments
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", rows)


def record_scoring_failure(comment_id: int, error: str, max_attempts: int) -> Comment | None:
    """Count one failed attempt at scoring a comment. After ``max_attempts`` the comment is marked ``failed``
    with its error (visible in the Failed queue) so the comments behind it keep flowing. Returns the comment,
    or None if it is no longer queued."""
    with transaction.atomic():
        comment = (
            Comment.objects.select_for_update().filter(pk=comment_id, status=CommentStatus.QUEUED).first()
        )
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


# --- Moderator actions --------------------------------------------------------------------------------------


class ActionConflict(Exception):
    """Another moderator (or the model) changed the comment since this moderator saw it."""


MODERATOR_ACTIONS = {"approve": CommentStatus.APPROVED, "reject": CommentStatus.REJECTED}
# What a moderator rejects with; threat, hate and harassment are the policy's reason codes too
# (policy.LABEL_CODES), and the trainer reads each as a label (selectors.labels, training datasets).
REJECT_REASON_CODES = ("toxic", "spam", "off_topic", "other", "threat", "hate", "harassment")


def apply_moderator_action(
    comment_id: int,
    user: AbstractBaseUser,
    action: str,
    expected_status: str,
    reason_code: str = "",
    note: str = "",
) -> Comment:
    """Approve or reject a comment as ``user``.

    ``expected_status`` is the status the moderator saw; if the comment has changed since, ``ActionConflict``
    is raised and nothing is written, so the first of two moderators wins and the second is told. Writes the
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
            adapter_version=comment.adapter_version,
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
        resolve_reports([comment], comment.decided_by, comment.decided_at)
        # webhooks: outbox row in the decision's transaction
        write_outbox([comment], "moderator", reason_code)
    return comment


# --- Batches and the reconciler (queue path) ----------------------------------------------------------------


def accept_comments(site: Site, cleans: list[Mapping[str, Any]], source: str) -> list[tuple[Comment, bool]]:
    """Store many validated submissions as ``queued`` with bulk writes. Returns (comment, created) per input,
    in input order; ids already stored (or repeated within the batch) come back with ``created=False``, those
    with a new text queued again as edits (``comment.revised`` True, see ``revise_comments``)."""
    ids = [c["site_comment_id"] for c in cleans]
    existing = {c.site_comment_id: c for c in Comment.objects.filter(site=site, site_comment_id__in=ids)}
    edits = [clean for clean in cleans if (c := existing.get(clean["site_comment_id"])) and is_edit(c, clean)]
    if edits:
        existing.update({c.site_comment_id: c for c in revise_comments(site, edits)})
    new: dict[str, Comment] = {}
    for clean in cleans:
        sid = clean["site_comment_id"]
        if sid not in existing and sid not in new:
            new[sid] = Comment(site=site, source=source, **clean)
    if new:
        try:
            with transaction.atomic():
                created = Comment.objects.bulk_create(list(new.values()))
                AuditEntry.objects.bulk_create(
                    AuditEntry(
                        actor_label="site:" + site.slug,
                        action="submitted",
                        comment=c,
                        after={"status": c.status, "source": source},
                    )
                    for c in created
                )
        except IntegrityError:
            # A concurrent submission of some of these ids: fall back to one at a time for this batch.
            return [accept_comment(site, clean, source) for clean in cleans]
    seen: set[str] = set()
    result = []
    for sid in ids:
        if sid in new and sid not in seen:
            result.append((new[sid], True))
        else:
            result.append((existing.get(sid) or new[sid], False))
        seen.add(sid)
    return result


def stale_queued_comment_ids(older_than_seconds: int) -> list[int]:
    """Ids of comments still ``queued`` after ``older_than_seconds``, oldest first (the reconciler's work)."""
    from datetime import timedelta

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Comment.objects.filter(status=CommentStatus.QUEUED, submitted_at__lte=cutoff)
        .order_by("submitted_at")
        .values_list("pk", flat=True)
    )


# --- Dashboard: moderator actions on one or many comments, reject by author, undo ---------------------------


@dataclass
class ModerationResult:
    """What one moderator request did: the comments it changed, one message per comment it left alone (another
    moderator or the model changed it first, it no longer exists, ...) and the audit entries it wrote, which
    are what an undo reverts."""

    changed: list[Comment]
    conflicts: list[str]
    audit_ids: list[int]


def _dashboard_snapshot(comment: Comment) -> dict[str, Any]:
    # decided_at too, so that an undo can restore the state exactly.
    return {
        **_snapshot(comment),
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
    }


def _changed_message(comment: Comment) -> str:
    return f"comment {comment.pk} is already {comment.get_status_display().lower()}" + (
        f" by {comment.decided_by}" if comment.decided_by else ""
    )


def moderate_comments(
    expected: Mapping[int, str],
    user: AbstractBaseUser,
    action: str,
    reason_code: str = "",
    note: str = "",
    via: str = "single",
) -> ModerationResult:
    """Approve or reject the comments in ``expected`` ({comment id: the status the moderator saw}) as
    ``user``.

    First wins: a comment whose status is no longer the one the moderator saw is left alone and reported in
    ``conflicts``; the others get their new state, a moderator Decision and an AuditEntry (before/after, the
    model's scores at the time, reason code, note, ``via`` = single | bulk | author) in one transaction.
    Rejecting needs a reason code from ``REJECT_REASON_CODES``, and "other" needs a note. Raises ValueError
    for a bad action, reason code or note.
    """
    if action not in MODERATOR_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(MODERATOR_ACTIONS)}")
    if action == "reject":
        if reason_code not in REJECT_REASON_CODES:
            raise ValueError(f"reason_code must be one of {', '.join(REJECT_REASON_CODES)}")
        if reason_code == "other" and not note.strip():
            raise ValueError("note is required when reason_code is other")
    else:
        reason_code = ""
    note = note.strip()[:2000]
    outcome = MODERATOR_ACTIONS[action]
    username = user.get_username()
    changed: list[Comment] = []
    conflicts: list[str] = []
    with transaction.atomic():
        comments = {c.pk: c for c in Comment.objects.select_for_update().filter(pk__in=list(expected))}
        now = timezone.now()
        decisions, audits = [], []
        for comment_id, seen_status in expected.items():
            comment = comments.get(comment_id)
            if comment is None:
                conflicts.append(f"comment {comment_id} does not exist")
                continue
            if comment.status != seen_status:
                conflicts.append(_changed_message(comment))
                continue
            before = _dashboard_snapshot(comment)
            comment.status, comment.decided_by, comment.decided_at = outcome, username, now
            decisions.append(
                Decision(
                    comment=comment,
                    kind=DecisionKind.MODERATOR,
                    outcome=outcome,
                    scores=comment.scores,
                    reasons=comment.reasons,
                    model_version=comment.model_version,
                    adapter_version=comment.adapter_version,
                    moderator=user,
                    reason_code=reason_code,
                    note=note,
                )
            )
            audits.append(
                AuditEntry(
                    actor=user,
                    actor_label=username,
                    action=action,
                    comment=comment,
                    before=before,
                    after={
                        **_dashboard_snapshot(comment),
                        "reason_code": reason_code,
                        "note": note,
                        "via": via,
                    },
                )
            )
            changed.append(comment)
        if changed:
            Comment.objects.bulk_update(changed, ["status", "decided_by", "decided_at"])
            Decision.objects.bulk_create(decisions)
            audits = AuditEntry.objects.bulk_create(audits)
            resolve_reports(changed, username, now)  # readers' reports of these comments are answered
            write_outbox(changed, "moderator", reason_code)  # webhooks: outbox rows in the same transaction
    return ModerationResult(changed, conflicts, [a.pk for a in audits])


def reject_pending_by_author(
    site_id: int, author_id: str, user: AbstractBaseUser, reason_code: str, note: str = ""
) -> ModerationResult:
    """Reject every comment of one author (on one site) that is waiting for review, as ``user``, with one
    reason code. Comments of that author in other states are left as they are. Same errors as
    ``moderate_comments``."""
    with transaction.atomic():
        ids = Comment.objects.filter(
            site_id=site_id, author_id=author_id, status=CommentStatus.NEEDS_REVIEW
        ).values_list("pk", flat=True)
        expected = {pk: CommentStatus.NEEDS_REVIEW.value for pk in ids}
        return moderate_comments(expected, user, "reject", reason_code, note, via="author")


def undo_moderator_actions(audit_ids: Iterable[int], user: AbstractBaseUser) -> ModerationResult:
    """Undo approve/reject actions recorded by the audit entries ``audit_ids``: each comment gets back its
    state from before the action, through a new Decision and an ``undo`` AuditEntry (nothing is deleted).

    Only the moderator who acted can undo, and only while nobody (moderator, model, system) has changed the
    comment since: otherwise that comment is left alone and reported in ``conflicts``.
    """
    from django.utils.dateparse import parse_datetime

    username = user.get_username()
    changed: list[Comment] = []
    conflicts: list[str] = []
    audit_out: list[int] = []
    with transaction.atomic():
        entries = list(AuditEntry.objects.filter(pk__in=list(audit_ids)).order_by("-id"))
        for entry in entries:
            if entry.actor_id != user.pk or entry.action not in MODERATOR_ACTIONS or entry.comment_id is None:
                conflicts.append(f"audit entry {entry.pk} is not an action of yours that can be undone")
                continue
            comment = Comment.objects.select_for_update().filter(pk=entry.comment_id).first()
            latest = (
                AuditEntry.objects.filter(comment_id=entry.comment_id)
                .order_by("-id")
                .values_list("pk", flat=True)
                .first()
            )
            if comment is None or latest != entry.pk or comment.status != entry.after.get("status"):
                conflicts.append(
                    f"comment {entry.comment_id} was changed since"
                    + (
                        f" (now {comment.get_status_display().lower()} by {comment.decided_by})"
                        if comment
                        else ""
                    )
                )
                continue
            before = _dashboard_snapshot(comment)
            restored = entry.before
            comment.status = restored.get("status", CommentStatus.NEEDS_REVIEW)
            comment.decided_by = restored.get("decided_by", "")
            if "decided_at" in restored:
                comment.decided_at = (
                    parse_datetime(restored["decided_at"]) if restored["decided_at"] else None
                )
            else:
                # Written by apply_moderator_action, which does not record decided_at: the decision before.
                earlier = comment.decisions.filter(created_at__lt=entry.created_at).order_by("-id")
                previous = [
                    d
                    for d in earlier[:2]
                    if not (d.moderator_id == user.pk and d.outcome == entry.after.get("status"))
                ]
                comment.decided_at = previous[0].created_at if previous else None
            comment.save(update_fields=["status", "decided_by", "decided_at"])
            acted_at = parse_datetime(entry.after.get("decided_at") or "")
            if acted_at is not None:  # the readers' reports that action answered are open again
                reopen_reports([comment.pk], username, acted_at)
            Decision.objects.create(
                comment=comment,
                kind=DecisionKind.MODERATOR,
                outcome=comment.status,
                scores=comment.scores,
                reasons=comment.reasons,
                model_version=comment.model_version,
                adapter_version=comment.adapter_version,
                moderator=user,
                reason_code="undo",
                note=f"undo of audit entry {entry.pk}",
            )
            audit = AuditEntry.objects.create(
                actor=user,
                actor_label=username,
                action="undo",
                comment=comment,
                before=before,
                after={**_dashboard_snapshot(comment), "undoes": entry.pk, "undone_action": entry.action},
            )
            changed.append(comment)
            audit_out.append(audit.pk)
        write_outbox(changed, "undo", "undo")  # webhooks: outbox rows in the undo's transaction
    return ModerationResult(changed, conflicts, audit_out)


# --- Webhook endpoints (moderation/webhooks.py sends the events) --------------------------------------------


def create_webhook_endpoint(site: Site, url: str, secrets: str | None = None, actor_label: str = "system"):
    """Configure a webhook endpoint for ``site`` (a new ``whsec_`` secret unless ``secrets`` is given; several
    secrets, space-separated, during a rotation) with its audit entry. Raises django ValidationError for a bad
    URL (including one resolving to a refused address range) or secret. Returns the endpoint."""
    secrets = secrets or generate_secret()
    validate_endpoint(url, secrets)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(site=site, url=url, secrets=secrets)
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="webhook_endpoint_created",
            after={"site": site.slug, "endpoint": endpoint.pk, "url": url},
        )
    return endpoint


# --- Issue 5 (multi-site): per-site thresholds over the model's ---------------------------------------------


def thresholds_by_comment(
    comment_ids: Iterable[int],
    model_thresholds: Mapping[str, Mapping[str, float]],
    base_by_site: Mapping[int, Mapping[str, Mapping[str, float]]] | None = None,
) -> dict[int, dict[str, dict[str, float]]]:
    """{comment id: thresholds_for(its site), with its story's stricter thresholds merged over them (issue
    21)} for a worker deciding a batch of stored comments. ``base_by_site``: a site's thresholds to merge its
    overrides over instead of ``model_thresholds`` (its adapter's: ``scoring.SiteScores.thresholds``)."""
    rows = list(Comment.objects.filter(pk__in=list(comment_ids)).values_list("pk", "site_id", "story_id"))
    site_ids = {site_id for _, site_id, _ in rows}
    sites = Site.objects.in_bulk(site_ids) if site_ids else {}
    base_by_site = base_by_site or {}
    per_site = {
        site_id: thresholds_for(sites.get(site_id), base_by_site.get(site_id, model_thresholds))
        for site_id in site_ids
    }
    stories = stories_with_thresholds(
        ((site_id, story_id) for _, site_id, story_id in rows), sites=sites.values()
    )
    per_story = {key: thresholds_for(story, per_site[key[0]]) for key, story in stories.items()}
    return {pk: per_story.get((site_id, story_id)) or per_site[site_id] for pk, site_id, story_id in rows}


def thresholds_by_story(
    site: Site, story_ids: Iterable[str], model_thresholds: Mapping[str, Mapping[str, float]]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    """(the site's thresholds, {story id: thresholds} for those of ``story_ids`` with their own) for the
    Celery path, which decides a site's new comments before storing them."""
    site_thresholds = thresholds_for(site, model_thresholds)
    stories = stories_with_thresholds(((site.pk, story_id) for story_id in story_ids), sites=[site])
    return site_thresholds, {
        story_id: thresholds_for(story, site_thresholds) for (_, story_id), story in stories.items()
    }


# --- Issue 21: edits are moderated again --------------------------------------------------------------------


def is_edit(comment: Comment, clean: Mapping[str, Any]) -> bool:
    """Whether a submission under a stored comment's id is an edit to moderate again: a different text, not
    older (by ``edited_at``, when both have one) than the stored one, on a comment that was not erased."""
    if comment.status == CommentStatus.ERASED or clean["text"] == comment.text:
        return False
    edited_at = clean.get("edited_at")
    return not (edited_at and comment.edited_at and edited_at <= comment.edited_at)


def revise_comments(site: Site, cleans: Iterable[Mapping[str, Any]]) -> list[Comment]:
    """Put the new texts of stored comments (``is_edit``) in place and queue them to be decided again, in one
    transaction with an ``edited`` audit entry each: its ``before`` holds the old text with the state and
    reasons it had, so the comment's history keeps every version. The comment's revision goes up, its
    scores and reasons are cleared, and the decision that follows reaches the site by webhook like any other.
    Returns the comments revised (``revised`` set on each); a submission that is not an edit is ignored."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for clean in cleans:
        by_id.setdefault(clean["site_comment_id"], clean)
    revised: list[Comment] = []
    now = timezone.now()
    with transaction.atomic():
        audits = []
        for comment in Comment.objects.select_for_update().filter(site=site, site_comment_id__in=list(by_id)):
            clean = by_id[comment.site_comment_id]
            if not is_edit(comment, clean):
                continue
            before = {
                **_dashboard_snapshot(comment),
                "text": comment.text,
                "revision": comment.revision,
                "reasons": comment.reasons,
                "reason_codes": comment.reason_codes,
                "edited_at": comment.edited_at.isoformat() if comment.edited_at else None,
            }
            comment.text = clean["text"]
            comment.edited_at = clean.get("edited_at") or now
            comment.language = clean.get("language") or comment.language
            comment.revision += 1
            comment.status = CommentStatus.QUEUED
            comment.scores, comment.reasons, comment.reason_codes, comment.severity = {}, [], [], 0
            comment.decided_at, comment.decided_by, comment.model_version = None, "", ""
            comment.adapter_version = ""
            comment.attempts, comment.last_error = 0, ""
            comment.revised = True
            audits.append(
                AuditEntry(
                    actor_label="site:" + site.slug,
                    action="edited",
                    comment=comment,
                    before=before,
                    after={
                        **_dashboard_snapshot(comment),
                        "text": comment.text,
                        "revision": comment.revision,
                        "edited_at": comment.edited_at.isoformat(),
                    },
                )
            )
            revised.append(comment)
        if revised:
            Comment.objects.bulk_update(revised, [*_DECIDED_FIELDS, *_EDITED_FIELDS])
            AuditEntry.objects.bulk_create(audits)
    return revised


_EDITED_FIELDS = ("text", "edited_at", "language", "revision", "attempts")


def set_policy_overrides(
    site: Site,
    overrides: Mapping[str, Mapping[str, float]],
    actor_label: str,
    review_budget: float | None = None,
) -> Site:
    """Merge ``overrides`` ({label: {"review"|"reject": value}}) into ``site.policy_overrides`` and save, with
    an audit entry (before/after) in the same transaction; with ``review_budget``, also the site's budget the
    overrides were fitted to (``selectors.tuning.fit_budget``). Raises django ValidationError for an invalid
    value."""
    merged = {label: dict(cuts) for label, cuts in (site.policy_overrides or {}).items()}
    for label, cuts in overrides.items():
        merged.setdefault(label, {}).update(cuts)
    validate_policy_overrides(merged)
    validate_review_budget(review_budget)
    with transaction.atomic():
        before = {"site": site.slug, "policy_overrides": dict(site.policy_overrides or {})}
        after = {"site": site.slug, "policy_overrides": merged}
        site.policy_overrides = merged
        fields = ["policy_overrides"]
        if review_budget is not None:
            before["review_budget"], after["review_budget"] = site.review_budget, review_budget
            site.review_budget = review_budget
            fields.append("review_budget")
        site.save(update_fields=fields)
        AuditEntry.objects.create(
            actor_label=actor_label, action="thresholds_changed", before=before, after=after
        )
    return site
