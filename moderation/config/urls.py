from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from moderation.api import community, openapi, privacy
from moderation.api import v1 as api
from moderation.dashboard import views
from moderation.dashboard.login import ThrottledLoginView
from moderation.ops import health, metrics

dashboard = (
    [
        path("", views.queue, name="queue"),
        path("counts", views.counts, name="counts"),
        path("comments/<int:comment_id>/", views.comment_detail, name="comment"),
        path("comments/<int:comment_id>/action", views.act, name="act"),
        path("bulk", views.bulk, name="bulk"),
        path("authors/reject", views.reject_author, name="reject-author"),
        path("commenters/state", views.set_commenter, name="commenter-state"),
        path("undo", views.undo, name="undo"),
        path("audit/", views.audit_log, name="audit"),
        path("stats/", views.stats_page, name="stats"),
        # Issue 21: a site's word lists, a story's controls.
        path("word-lists/", views.word_lists, name="word-lists"),
        path("word-lists/add", views.word_list_add, name="word-list-add"),
        path("word-lists/<int:entry_id>/remove", views.word_list_remove, name="word-list-remove"),
        path("story/", views.story, name="story"),
        path("story/set", views.story_set, name="story-set"),
    ],
    "dashboard",
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:queue", permanent=False)),
    path("dashboard/", include(dashboard)),
    # Issue 6: Django's LoginView behind a failed-login limit per username and address
    # (moderation/dashboard/login.py).
    path("login/", ThrottledLoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/comments", api.comments, name="api-comments"),
    path("api/v1/comments:batch", api.comments_batch, name="api-comments-batch"),
    path("api/v1/check", api.check, name="api-check"),
    path("api/v1/comments/<int:comment_id>", api.comment_detail, name="api-comment"),
    # Issue 21: a story's controls (pre-moderated, closed, stricter thresholds).
    path("api/v1/stories/<str:story_id>", api.story, name="api-story"),
    # Issue 21: readers' reports and commenter states (moderation/api/community.py).
    path("api/v1/comments/<int:comment_id>/reports", community.reports, name="api-reports"),
    path("api/v1/commenters/<str:author_id>", community.commenter, name="api-commenter"),
    # Issue 6: the API's OpenAPI document (moderation/api/openapi.py), also what the schemathesis fuzz test
    # reads.
    path("api/v1/openapi.json", openapi.openapi_json, name="api-openapi"),
    # Issue 5 (privacy): erase an author on the key's site (moderation/api/privacy.py).
    path("api/v1/authors/<str:author_id>:erase", privacy.erase_author_view, name="api-erase-author"),
    # Operations (moderation/ops/health.py, metrics.py; ops/middleware.py serves them before the host check).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # Perspective-compatible API (moderation/api/perspective.py): /v1alpha1/comments:analyze and
    # :suggestscore.
    path("", include("moderation.api.perspective_urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (Django's admin); answer instead of a 404.
    path("favicon.ico", RedirectView.as_view(url=static("moderation/favicon.svg"), permanent=True)),
    # Issue 6: any other /api/ path is a JSON 404 (keep last).
    re_path(r"^api/", api.not_found),
]
