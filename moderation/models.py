"""What the pipeline stores: sites and their API keys, comments with their current state, every decision made on
them, and the audit trail of every state change."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q


class Site(models.Model):
    """A site (tenant) that submits comments."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class ApiKey(models.Model):
    """A site's API key. Only a SHA-256 of the key is stored: keys are 256-bit random tokens, so a fast hash is
    enough and a database leak does not leak usable keys."""

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


class Comment(models.Model):
    """A submitted comment and its current state. ``(site, site_comment_id)`` is unique, so submitting the same
    comment twice yields one row."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="comments")
    site_comment_id = models.CharField(max_length=255)
    text = models.TextField()
    author_id = models.CharField(max_length=255)
    author_name = models.CharField(max_length=255, blank=True, default="")
    story_id = models.CharField(max_length=255)
    story_title = models.CharField(max_length=500, blank=True, default="")
    parent_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(null=True, blank=True, help_text="When the reader posted it, per the site.")
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
    model_version = models.CharField(max_length=100, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "site_comment_id"], name="uniq_site_comment"),
        ]
        indexes = [
            models.Index(fields=["status", "submitted_at"], name="comment_status_submitted"),
            # Dashboard: a queue page is ordered by (submitted_at, id) within a status; author history and
            # "reject all pending by this author" look up one author's comments by status; the story filter.
            models.Index(fields=["status", "submitted_at", "id"], name="comment_queue_page"),
            models.Index(fields=["author_id", "status"], name="comment_author_status"),
            models.Index(fields=["story_id", "status"], name="comment_story_status"),
            models.Index(fields=["decided_at"], name="comment_decided_at"),
        ]

    def __str__(self) -> str:
        return f"{self.site_id}:{self.site_comment_id}"


class DecisionKind(models.TextChoices):
    AUTOMATIC = "auto", "Automatic"
    MODERATOR = "moderator", "Moderator"


class Decision(models.Model):
    """One decision on a comment. A comment has at most one automatic decision (the database enforces it, so a
    redelivered task cannot decide twice); moderators add decisions on top."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    outcome = models.CharField(max_length=16, choices=CommentStatus.choices)
    scores = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    model_version = models.CharField(max_length=100, blank=True, default="")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason_code = models.CharField(max_length=32, blank=True, default="")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comment"], condition=Q(kind="auto"), name="one_automatic_decision_per_comment"
            )
        ]
        ordering = ["created_at", "id"]


class AuditEntry(models.Model):
    """Who did what to which comment, when, with the state before and after. Written in the same transaction as
    the change it records."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, help_text="Username, or 'model' / 'system'")
    action = models.CharField(max_length=32, db_index=True)
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The audit log page filters by moderator and action within a date range, newest first.
        indexes = [models.Index(fields=["actor_label", "created_at"], name="audit_actor_created")]
