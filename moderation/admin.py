from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from moderation import queue
from moderation.models import (
    ApiKey,
    AuditEntry,
    Comment,
    Commenter,
    Decision,
    ModelVersion,
    ModeratorSiteAccess,
    Report,
    Site,
    SiteAdapterVersion,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from moderation.selectors.shadow import shadow_report
from moderation.services import registry, set_link_domains, shadow


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "review_budget", "report_threshold", "created_at")
    # The budget is what its thresholds were fitted to: set both with `manage.py preview_thresholds --budget`.
    readonly_fields = ("review_budget",)

    def save_model(self, request, obj, form, change):
        # Link domains and holding every commenter's links (issue 21) change through their service, which
        # audits the change.
        names = ("allowed_link_domains", "denied_link_domains", "hold_links")
        if not change or not set(names) & set(form.changed_data):
            return super().save_model(request, obj, form, change)
        allowed, denied, hold_links = (getattr(obj, name) for name in names)
        stored = Site.objects.get(pk=obj.pk)
        for name in names:
            setattr(obj, name, getattr(stored, name))
        super().save_model(request, obj, form, change)
        set_link_domains(obj, allowed, denied, actor_label=request.user.get_username(), hold_links=hold_links)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("site", "name", "prefix", "created_at", "revoked_at")
    readonly_fields = ("key_hash", "prefix", "created_at")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never written here: comments change state only through moderation.services (each change
    audited in its transaction, from the dashboard or the API), and decisions and audit entries are the trail
    itself. Staff could otherwise add an approval under another moderator's name (issue 21)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ("id", "site", "site_comment_id", "status", "decided_by", "submitted_at")
    list_filter = ("status", "site")
    search_fields = ("site_comment_id", "author_id", "story_id")


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("comment", "kind", "outcome", "moderator", "model_version", "created_at")
    list_filter = ("kind", "outcome")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "comment")
    list_filter = ("action",)


# --- Webhooks: endpoints per site, the outbox and every delivery attempt ------------------------------------


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("site", "url", "enabled", "disabled_reason", "updated_at")
    list_filter = ("enabled", "site")
    readonly_fields = ("disabled_reason", "created_at", "updated_at")
    actions = ("enable_endpoints",)

    @admin.action(description="Re-enable (pending deliveries are sent again)")
    def enable_endpoints(self, request, queryset):
        queryset.update(enabled=True, disabled_reason="")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "error", "response_body", "duration_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "message_id",
        "endpoint",
        "event_type",
        "comment",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
    )
    list_filter = ("status", "endpoint")
    search_fields = ("message_id",)
    readonly_fields = (
        "endpoint",
        "message_id",
        "event_type",
        "comment",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "delivered_at",
    )
    inlines = [WebhookAttemptInline]
    actions = ("retry_now",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        ids = list(queryset.exclude(status=WebhookDeliveryStatus.DELIVERED).values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=WebhookDeliveryStatus.PENDING, next_attempt_at=timezone.now()
        )
        if ids:
            queue.enqueue_webhook_delivery(ids)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ("attempted_at", "delivery", "status_code", "error", "duration_ms")
    list_filter = ("status_code",)
    readonly_fields = ("delivery", "attempted_at", "status_code", "error", "response_body", "duration_ms")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Model registry: promote / roll back from admin (same functions as the commands) ------------------------


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "is_active", "activated_at", "registered_at", "registered_by", "path")
    list_filter = ("is_active",)
    readonly_fields = (
        "version",
        "path",
        "sha256",
        "shadow_comparison",
        "metadata",
        "smoke_scores",
        "registered_at",
        "registered_by",
        "is_active",
        "activated_at",
        "is_shadow",
        "shadow_since",
    )
    actions = ("promote_selected", "rollback_active", "shadow_selected", "stop_shadow")

    @admin.display(description="Shadow comparison")
    def shadow_comparison(self, obj):
        """Per label: agreement with moderators (active vs this model) and decisions it would have changed."""
        report = shadow_report(obj.version)
        if not report["scored"]:
            return "No shadow scores for this version (shadow it to compare it on live traffic)."
        pct = lambda v: "–" if v is None else f"{v:.0%}"  # noqa: E731
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    label,
                    s["moderated"],
                    pct(s["active_agreement"]),
                    pct(s["shadow_agreement"]),
                    s["would_change"],
                )
                for label, s in report["labels"].items()
            ),
        )
        changes = ", ".join(f"{k}: {v}" for k, v in sorted(report["changes"].items())) or "none"
        return format_html(
            "<p>{} comments scored; {} outcomes would change ({}).</p><table><tr><th>label</th>"
            "<th>moderated</th><th>active agrees</th><th>this model agrees</th><th>would change</th></tr>"
            "{}</table>",
            report["scored"],
            report["changed"],
            changes,
            rows,
        )

    @admin.action(description="Shadow the selected version (score live traffic, never decide)")
    def shadow_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to shadow.", messages.ERROR)
            return
        try:
            row = shadow.start_shadow(queryset.get().version, actor_label=request.user.get_username())
        except (registry.VerificationError, ValueError) as exc:
            self.message_user(request, f"Refused: {exc}", messages.ERROR)
            return
        self.message_user(request, f"Shadowing {row.version}")

    @admin.action(description="Stop shadow mode")
    def stop_shadow(self, request, queryset):
        row = shadow.stop_shadow(actor_label=request.user.get_username())
        self.message_user(request, f"Stopped shadowing {row.version}" if row else "No shadow model")

    def has_add_permission(self, request):
        return False  # registering verifies the file: `manage.py register_model PATH`

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Promote the selected version (verified again first)")
    def promote_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        try:
            row = registry.promote(queryset.get().version, actor_label=request.user.get_username())
        except registry.VerificationError as exc:
            self.message_user(request, f"Refused, the active version is unchanged: {exc}", messages.ERROR)
            return
        self.message_user(request, f"Active model: {row.version}")

    @admin.action(description="Roll back to the previously active version")
    def rollback_active(self, request, queryset):
        try:
            row = registry.rollback(actor_label=request.user.get_username())
        except (ModelVersion.DoesNotExist, registry.VerificationError) as exc:
            self.message_user(request, f"Refused, the active version is unchanged: {exc}", messages.ERROR)
            return
        except registry.ActiveVersionChanged as exc:  # someone else switched versions meanwhile
            self.message_user(request, f"Not rolled back: {exc}. Reload and try again.", messages.WARNING)
            return
        self.message_user(request, f"Active model: {row.version}")


@admin.register(SiteAdapterVersion)
class SiteAdapterVersionAdmin(ReadOnlyAdmin):
    """Read-only: adapters are registered, shadowed and activated by ``manage.py register_adapter`` and
    ``manage.py adapter`` (services.adapters), which verify the file and write the audit entry."""

    list_display = ("version", "site", "is_active", "is_shadow", "base_model_version", "registered_at")
    list_filter = ("is_active", "is_shadow", "site")
    readonly_fields = [*(field.name for field in SiteAdapterVersion._meta.fields), "shadow_comparison"]
    shadow_comparison = ModelVersionAdmin.shadow_comparison  # the same report, for a shadowed adapter


# --- Issue 5: moderators limited to some sites (none = every site; superusers always see every site) --------


@admin.register(ModeratorSiteAccess)
class ModeratorSiteAccessAdmin(admin.ModelAdmin):
    list_display = ("user", "site", "created_at")
    list_filter = ("site",)


# --- Issue 21: commenter states and readers' reports, read-only here (set through the dashboard or the API,
# each change audited) -------------------------------------------------------------------------------------


@admin.register(Commenter)
class CommenterAdmin(ReadOnlyAdmin):
    list_display = ("site", "author_id", "state", "until", "reason", "updated_by", "updated_at")
    list_filter = ("state", "site")
    search_fields = ("author_id",)


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("comment", "reporter_id", "reason", "created_at", "resolved_at", "resolved_by")
    search_fields = ("reporter_id",)
