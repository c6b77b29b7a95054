"""The project's URLs plus the Perspective-compatible API, for tests that run before moderation.urls includes it."""

from django.urls import include, path

urlpatterns = [
    path("", include("moderation.urls")),
    path("", include("moderation.perspective_urls")),
]
