from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import api, views

dashboard = (
    [
        path("", views.queue, name="queue"),
        path("counts", views.counts, name="counts"),
        path("comments/<int:comment_id>/", views.comment_detail, name="comment"),
        path("comments/<int:comment_id>/action", views.act, name="act"),
        path("bulk", views.bulk, name="bulk"),
        path("authors/reject", views.reject_author, name="reject-author"),
        path("undo", views.undo, name="undo"),
        path("audit/", views.audit_log, name="audit"),
        path("stats/", views.stats_page, name="stats"),
    ],
    "dashboard",
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:queue", permanent=False)),
    path("dashboard/", include(dashboard)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/comments", api.comments, name="api-comments"),
    path("api/v1/comments:batch", api.comments_batch, name="api-comments-batch"),
    path("api/v1/check", api.check, name="api-check"),
    path("api/v1/comments/<int:comment_id>", api.comment_detail, name="api-comment"),
    path("healthz", lambda request: JsonResponse({"status": "ok"}), name="healthz"),
    # Browsers ask for /favicon.ico on pages that name no icon (Django's admin); answer instead of a 404.
    path("favicon.ico", RedirectView.as_view(url=static("moderation/favicon.svg"), permanent=True)),
]
