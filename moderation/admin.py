from django.contrib import admin

from .models import ApiKey, AuditEntry, Comment, Decision, Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("site", "name", "prefix", "created_at", "revoked_at")
    readonly_fields = ("key_hash", "prefix", "created_at")


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("id", "site", "site_comment_id", "status", "decided_by", "submitted_at")
    list_filter = ("status", "site")
    search_fields = ("site_comment_id", "author_id", "story_id")


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ("comment", "kind", "outcome", "moderator", "model_version", "created_at")
    list_filter = ("kind", "outcome")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "action", "comment")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None):
        return False  # the audit trail is append-only

    def has_delete_permission(self, request, obj=None):
        return False
