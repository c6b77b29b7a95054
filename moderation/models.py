"""What the pipeline stores: sites and their API keys, comments with their current state, every decision made
on them, and the audit trail of every state change."""

from __future__ import annotations

import functools
import hashlib
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from moderation.validation import (
    validate_endpoint,
    validate_link_domains,
    validate_policy_overrides,
    validate_report_threshold,
    validate_review_budget,
)
from training.normalize import normalize


class Site(models.Model):
    """A site (tenant) that submits comments."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Issue 5 (multi-site): per-label thresholds merged over the model's, e.g. {"toxicity": {"review": 0.4}}
    # (policy.thresholds_for; validated by validation.validate_policy_overrides).
    policy_overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per-label thresholds over the model\'s, e.g. {"toxicity": {"review": 0.4}}.',
    )

    # Issue 22: the share of the site's comments the policy may flag (hold or reject); the review threshold of
    # the general score is fitted to it on the site's recent scores (``preview_thresholds --budget``).
    # Empty: the model's default, fitted on news comments (training.offline.thresholds).
    review_budget = models.FloatField(
        null=True,
        blank=True,
        help_text="Share of comments flagged for review or rejected, e.g. 0.12; empty: the model's default.",
    )
    # Issue 21 (word lists): bumped with every change of the site's word lists, in the same transaction, so
    # each process recompiles its cached pattern (selectors.desk) when it sees a new number.
    word_lists_version = models.PositiveIntegerField(default=0, editable=False)
    # Issue 21 (story controls): how many of the site's stories are not plain (pre-moderated, closed, or with
    # their own thresholds), kept by services.desk.set_story_controls; 0 spares every decide batch and API
    # submission of the site a look at its stories.
    controlled_stories = models.PositiveIntegerField(default=0, editable=False)

    # Issue 21: reports from this many distinct readers send an approved comment back to review.
    report_threshold = models.PositiveSmallIntegerField(
        default=3,
        help_text="Reports from this many distinct readers send an approved comment back to review (1-1000).",
    )

    # Issue 21: link domains (each covering its subdomains). A link to a denied one rejects the comment; links
    # only to allowed ones do not hold a new commenter's comment.
    allowed_link_domains = models.JSONField(
        default=list, blank=True, help_text='Link domains new commenters may post, e.g. ["gov.uk"].'
    )
    denied_link_domains = models.JSONField(
        default=list,
        blank=True,
        help_text='Comments linking to these are rejected, e.g. ["spam.example"].',
    )
    # Coral's "pre-moderate comments containing links", for every commenter but a trusted one (not only new
    # ones): a link to a domain off the allow list, a phone number or a messenger handle holds the comment.
    hold_links = models.BooleanField(
        default=False,
        help_text="Hold every comment with a link (to a domain not on the allow list), a phone number or a "
        "messenger handle for a person, from any commenter but a trusted one; off: only new commenters'.",
    )

    def clean(self) -> None:
        validate_policy_overrides(self.policy_overrides)
        for name in ("allowed_link_domains", "denied_link_domains"):
            try:
                validate_link_domains(name, getattr(self, name))
            except ValidationError as exc:
                raise ValidationError({name: exc.messages}) from None
        for name, check in (
            ("review_budget", validate_review_budget),
            ("report_threshold", validate_report_threshold),
        ):
            try:
                check(getattr(self, name))
            except ValidationError as exc:
                raise ValidationError({name: exc.messages}) from None

    def __str__(self) -> str:
        return self.slug


class ApiKey(models.Model):
    """A site's API key. Only a SHA-256 of the key is stored: keys are 256-bit random tokens, so a fast hash
    is enough and a database leak does not leak usable keys."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=12, help_text="First characters of the key, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash_key(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()

    def __str__(self) -> str:
        return f"{self.site.slug}:{self.prefix}…"


class CommentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    NEEDS_REVIEW = "needs_review", "Needs review"
    FAILED = "failed", "Failed"
    # Issue 5 (privacy): the author asked to be erased; only a non-personal tombstone is left (privacy.py).
    ERASED = "erased", "Erased"


# Texts shorter than this many words have no fingerprint: "Great piece, thanks" from many readers is not a
# campaign.
FINGERPRINT_MIN_WORDS = 4
_FINGERPRINT_WORD_RE = re.compile(r"[^\W\d_]{2,}")


def text_fingerprint(text: str) -> str:
    """What two copies of the same or nearly the same text share (issue 21): a hash of the words of the
    normalised text (``training.normalize``: case, spacing, leet and homoglyphs folded), without digits,
    punctuation and one-letter words, so "Earn $500/day!!" and "earn 900 a day" match. "" for a text of fewer
    than ``FINGERPRINT_MIN_WORDS`` words."""
    return fingerprint_of_normalized(normalize(text or ""))


def fingerprint_of_normalized(normal: str) -> str:
    """``text_fingerprint`` of a text already normalised (``training.normalize.normalize``). Computed twice a
    decision (the context signals, then the insert): the last 2,048 short texts' are kept."""
    return _recent_fingerprint(normal) if len(normal) <= 2000 else _fingerprint(normal)


def _fingerprint(normal: str) -> str:
    words = _FINGERPRINT_WORD_RE.findall(normal)
    if len(words) < FINGERPRINT_MIN_WORDS:
        return ""
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=8).hexdigest()


_recent_fingerprint = functools.lru_cache(maxsize=2048)(_fingerprint)


class FingerprintField(models.CharField):
    """``text_fingerprint(instance.text)``, computed whenever the row is written (save, bulk_create and
    ``services.insert_rows`` all call ``pre_save``), so every path that stores a comment stores it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 16)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        value = text_fingerprint(model_instance.text)
        setattr(model_instance, self.attname, value)
        return value


class Comment(models.Model):
    """A submitted comment and its current state. ``(site, site_comment_id)`` is unique, so submitting the
    same comment twice yields one row."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="comments")
    site_comment_id = models.CharField(max_length=255)
    text = models.TextField()
    author_id = models.CharField(max_length=255)
    author_name = models.CharField(max_length=255, blank=True, default="")
    story_id = models.CharField(max_length=255)
    story_title = models.CharField(max_length=500, blank=True, default="")
    parent_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader posted it, per the site."
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    language = models.CharField(max_length=35, blank=True, default="")
    source = models.CharField(max_length=16, default="api")  # api | celery

    status = models.CharField(
        max_length=16, choices=CommentStatus.choices, default=CommentStatus.QUEUED, db_index=True
    )
    submitted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True, default="", help_text="'model' or a username")
    scores = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    # The automatic decision's reason codes (policy.LABEL_CODES: threat, hate, harassment, toxic, spam), most
    # severe first, and their severity (policy.SEVERITY): the review queue shows threats and hate first.
    reason_codes = models.JSONField(default=list, blank=True)
    severity = models.PositiveSmallIntegerField(default=0)
    # The labels that reached a threshold in the automatic decision, and which: label -> "review" | "reject"
    # (scoring.Verdict.bands). What the label filter, the stats and the metrics read: reasons are for people.
    label_bands = models.JSONField(default=dict, blank=True)
    model_version = models.CharField(max_length=100, blank=True, default="")
    # The site adapter (SiteAdapterVersion) that re-scored this comment's label over the model's, "" for the
    # shared scores (issue 20): with model_version, which scores the decision and a moderator saw.
    adapter_version = models.CharField(max_length=100, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # Issue 5 (privacy, moderation/privacy.py): the IP address was truncated by the retention job; when the
    # author's data was erased.
    ip_truncated = models.BooleanField(default=False)
    erased_at = models.DateTimeField(null=True, blank=True)
    # Issue 21 (edits): a new text under the same site_comment_id is moderated again. ``revision`` counts the
    # texts (0: the first); each has at most one automatic decision. The old texts are in the "edited" audit
    # entries. ``edited_at``: when the reader edited it, per the site.
    revision = models.PositiveIntegerField(default=0)
    edited_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader edited it, per the site."
    )
    # Issue 21: copies of the same text across stories and commenters (selectors.commenters).
    text_fingerprint = FingerprintField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "site_comment_id"], name="uniq_site_comment"),
        ]
        indexes = [
            models.Index(fields=["status", "submitted_at"], name="comment_status_submitted"),
            # Dashboard: a queue page is ordered by (submitted_at, id) within a status; author history,
            # "reject all pending by this author" and the context signals' "established" (approved comments)
            # look up one commenter's comments by status (covering: the site is in it, as author ids are a
            # site's own); the story filter.
            models.Index(fields=["status", "submitted_at", "id"], name="comment_queue_page"),
            models.Index(fields=["site", "author_id", "status"], name="comment_site_author_status"),
            models.Index(fields=["story_id", "status"], name="comment_story_status"),
            models.Index(fields=["decided_at"], name="comment_decided_at"),
            models.Index(fields=["status", "severity", "submitted_at"], name="comment_queue_severity"),
            # Issue 21, context signals: one commenter's recent comments (bursts, approvals), and recent
            # copies of a text on a site.
            models.Index(fields=["site", "author_id", "submitted_at"], name="comment_site_author_time"),
            # Not partial (it was, on text_fingerprint != ""): SQLite cannot prove that `fingerprint IN (...)`
            # excludes "", so it never used the partial index and counted copies by scanning the site's rows
            # (40 ms a decision at 100,000 comments, against 0.1 ms with this one).
            models.Index(
                fields=["site", "text_fingerprint", "submitted_at"], name="comment_site_fingerprint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site_id}:{self.site_comment_id}"


class DecisionKind(models.TextChoices):
    AUTOMATIC = "auto", "Automatic"
    MODERATOR = "moderator", "Moderator"


class Decision(models.Model):
    """One decision on a comment. A comment has at most one automatic decision per text (its revision; the
    database enforces it, so a redelivered task cannot decide twice); moderators add decisions on top."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    outcome = models.CharField(max_length=16, choices=CommentStatus.choices)
    scores = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    label_bands = models.JSONField(default=dict, blank=True)  # as Comment.label_bands, for this decision
    model_version = models.CharField(max_length=100, blank=True, default="")
    adapter_version = models.CharField(max_length=100, blank=True, default="")  # as Comment.adapter_version
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason_code = models.CharField(max_length=32, blank=True, default="")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # The comment's revision (Comment.revision) this decision was made on: an edited comment is decided again.
    revision = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comment", "revision"],
                condition=Q(kind="auto"),
                name="one_automatic_decision_per_revision",
            )
        ]
        ordering = ["created_at", "id"]


class AuditEntry(models.Model):
    """Who did what to which comment, when, with the state before and after. Written in the same transaction
    as the change it records."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, help_text="Username, or 'model' / 'system'")
    action = models.CharField(max_length=32, db_index=True)
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The audit log page filters by moderator and action within a date range, newest first.
        indexes = [models.Index(fields=["actor_label", "created_at"], name="audit_actor_created")]


class SuggestedScore(models.Model):
    """A score a site says a comment should have (Perspective's SuggestCommentScore), kept as a label for
    retraining. Stored only when MODERATION_STORE_SUGGESTED_SCORES is on and the request did not say
    doNotStore."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="suggested_scores")
    text = models.TextField()
    attribute = models.CharField(max_length=64, help_text="Perspective attribute name, e.g. TOXICITY")
    label = models.CharField(max_length=32, help_text="Our model's label, e.g. toxicity")
    score = models.FloatField(null=True, blank=True, help_text="Suggested summary score in [0, 1]")
    span_scores = models.JSONField(default=list, blank=True, help_text='[{"begin", "end", "score"}]')
    client_token = models.CharField(max_length=255, blank=True, default="")
    community_id = models.CharField(max_length=255, blank=True, default="")
    languages = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["site", "label", "created_at"], name="suggested_site_label_created")]

    def __str__(self) -> str:
        return f"{self.site_id}:{self.attribute}={self.score}"


# --- Webhooks: decisions flow back to the site (moderation/webhooks/) ---------------------------------------


class WebhookEndpoint(models.Model):
    """Where a site receives decision events. ``secrets`` holds one or more ``whsec_<base64>`` secrets
    separated by white space: every one signs each message (rotation: add the new secret, move the receiver
    over, remove the old one). A 410 Gone from the receiver disables the endpoint."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    secrets = models.TextField(help_text="One or more whsec_… secrets, separated by spaces or new lines.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def secret_list(self) -> list[str]:
        return self.secrets.split()

    def clean(self) -> None:
        validate_endpoint(self.url, self.secrets)

    def __str__(self) -> str:
        return f"{self.site.slug} → {self.url}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """The outbox: one event for one endpoint, written in the same transaction as the decision it reports.
    ``body`` is the exact JSON that is signed and sent on every attempt; ``message_id`` is its ``webhook-id``
    (the same on every retry, so a receiver can de-duplicate)."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=64)
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        # The delivery task and the reconciler look for due pending rows.
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]

    def __str__(self) -> str:
        return self.message_id


class WebhookAttempt(models.Model):
    """One HTTP attempt at a delivery, with what came back (kept for admins)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    response_body = models.CharField(max_length=1000, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]


# --- Model registry (moderation/services/registry.py) -------------------------------------------------------


class ModelVersion(models.Model):
    """A model artifact that passed verification (sha256, metadata, library versions, a smoke score) when it
    was registered. At most one is active: the one every worker serves. Workers re-verify the file (against
    the sha256 recorded here) before they switch to it."""

    version = models.CharField(max_length=100, unique=True)
    path = models.CharField(max_length=1000)
    sha256 = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    smoke_scores = models.JSONField(default=dict, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)
    registered_by = models.CharField(max_length=150, blank=True, default="")
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Shadow mode: a candidate scoring live traffic beside the active model, never deciding (ShadowScore).
    is_shadow = models.BooleanField(default=False)
    shadow_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_model"
            ),
            models.UniqueConstraint(
                fields=["is_shadow"], condition=Q(is_shadow=True), name="one_shadow_model"
            ),
        ]

    def __str__(self) -> str:
        return self.version + (" (active)" if self.is_active else "")


class SiteAdapterVersion(models.Model):
    """A site's adapter (``training.adapter``, ``python -m training adapt``) that passed verification against
    the model it was fitted on when it was registered (moderation/services/adapters.py). At most one per site
    is active (it re-scores its label for that site's comments) and at most one is the shadow (scored beside,
    never deciding). An adapter reads one model's feature columns: it serves only while the active model is
    ``base_model_sha256``; under any other model the site gets the shared scores."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="adapters")
    version = models.CharField(max_length=100)
    path = models.CharField(max_length=1000)
    sha256 = models.CharField(max_length=64)
    label = models.CharField(max_length=32)
    base_model_version = models.CharField(max_length=100)
    base_model_sha256 = models.CharField(max_length=64)
    thresholds = models.JSONField(default=dict, blank=True)  # its thresholds for `label`, from its sidecar
    metadata = models.JSONField(default=dict, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)
    registered_by = models.CharField(max_length=150, blank=True, default="")
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    is_shadow = models.BooleanField(default=False)
    shadow_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "version"], name="uniq_site_adapter_version"),
            models.UniqueConstraint(
                fields=["site"], condition=Q(is_active=True), name="one_active_adapter_per_site"
            ),
            models.UniqueConstraint(
                fields=["site"], condition=Q(is_shadow=True), name="one_shadow_adapter_per_site"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site_id}:{self.version}" + (" (active)" if self.is_active else "")


# --- Issue 5 (multi-site): moderators limited to some sites -------------------------------------------------
# (moderation/selectors/dashboard.py scopes the dashboard)


class ModeratorSiteAccess(models.Model):
    """A site a moderator may see and act on. A moderator with no rows here sees every site (as before sites
    could be limited); one with rows sees only those sites; superusers always see every site."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_access")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="moderator_access")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "moderator site access"
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="uniq_moderator_site")]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.site.slug}"


class ShadowScore(models.Model):
    """What a shadow model (ModelVersion.is_shadow) said about a comment the active model decided: its scores
    and the outcome its thresholds would have given. Never changes the comment; read by the shadow report."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="shadow_scores")
    model_version = models.CharField(max_length=100)
    scores = models.JSONField(default=dict)
    outcome = models.CharField(max_length=16, choices=CommentStatus.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comment", "model_version"], name="one_shadow_score_per_version")
        ]


# --- Issue 21: word lists and story controls (selectors.desk, services.desk) ------------------------------


class WordList(models.TextChoices):
    BLOCK = "block", "Block list (reject)"
    WATCH = "watch", "Watch list (hold for review)"


class WordListEntry(models.Model):
    """A word or phrase on a site's block list (comments with it are rejected) or watch list (held for a
    person). Matched as whole words on the normalised text (training.normalize), so spacing, leet,
    homoglyphs and zero-width characters do not get around it; ``normalized`` is the phrase normalised the
    same way, unique per site and list."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="word_list_entries")
    list = models.CharField(max_length=8, choices=WordList.choices)
    phrase = models.CharField(max_length=100)
    normalized = models.CharField(max_length=200)
    added_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "word list entries"
        ordering = ["list", "normalized"]
        constraints = [
            models.UniqueConstraint(fields=["site", "list", "normalized"], name="uniq_word_list_entry")
        ]

    def __str__(self) -> str:
        return f"{self.site_id}:{self.list}:{self.phrase}"


class StoryMode(models.TextChoices):
    OPEN = "open", "Open"
    PREMODERATED = "premoderated", "Pre-moderated (every comment held for a person)"
    CLOSED = "closed", "Closed to new comments"


class Story(models.Model):
    """A site's controls for one story: its mode (open, pre-moderated, closed) and thresholds stricter than
    the site's (``policy_overrides``, the same shape as Site.policy_overrides, merged over the site's). A
    story without a row is open with the site's thresholds."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="stories")
    story_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500, blank=True, default="")
    mode = models.CharField(max_length=16, choices=StoryMode.choices, default=StoryMode.OPEN)
    policy_overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per-label thresholds over the site\'s, e.g. {"toxicity": {"review": 0.2}}.',
    )
    # When the story was last closed: comments submitted before it are still decided as usual.
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        verbose_name_plural = "stories"
        constraints = [models.UniqueConstraint(fields=["site", "story_id"], name="uniq_site_story")]

    def clean(self) -> None:
        try:
            validate_policy_overrides(self.policy_overrides)
        except ValidationError as exc:
            raise ValidationError({"policy_overrides": exc.messages}) from None

    @property
    def slug(self) -> str:  # what policy.thresholds_for logs an invalid override under
        return f"{self.site_id}/story {self.story_id}"

    def __str__(self) -> str:
        return f"{self.site_id}:{self.story_id} ({self.mode})"


# --- Issue 21: commenters and reader reports ----------------------------------------------------------------


class CommenterState(models.TextChoices):
    TRUSTED = "trusted", "Trusted"
    NORMAL = "normal", "Normal"
    PREMODERATED = "premoderated", "Pre-moderated"
    SUSPENDED = "suspended", "Suspended"
    BANNED = "banned", "Banned"


class Commenter(models.Model):
    """What a site (or its moderators) decided about one of its commenters. No row is ``normal``. Read for
    every comment decided (``selectors.commenters``): banned rejects, suspended rejects until ``until``,
    pre-moderated holds, trusted approves what the model would only hold. Set by
    ``services.community.set_commenter_state``, audited."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="commenters")
    author_id = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=CommenterState.choices, default=CommenterState.NORMAL)
    until = models.DateTimeField(null=True, blank=True, help_text="Suspended: until when.")
    reason = models.CharField(max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        # The unique index is the lookup index (site, author_id).
        constraints = [models.UniqueConstraint(fields=["site", "author_id"], name="uniq_site_commenter")]

    def __str__(self) -> str:
        return f"{self.site_id}:{self.author_id}={self.state}"


class Report(models.Model):
    """A reader's report of a comment (one per reader and comment). Open until a moderator decides the
    comment (``resolved_at``); the Reported queue lists comments with open reports."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="reports")
    reporter_id = models.CharField(max_length=255)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comment", "reporter_id"], name="one_report_per_reader")
        ]
        indexes = [
            # The Reported queue and its count: open reports, newest first.
            models.Index(
                fields=["created_at", "comment"],
                name="report_open",
                condition=Q(resolved_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.comment_id} by {self.reporter_id}"
