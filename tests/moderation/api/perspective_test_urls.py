"""The project's URLs plus the Perspective-compatible API, for tests that run before moderation.config.urls
includes it."""

from django.urls import include, path

urlpatterns = [
    path("", include("moderation.config.urls")),
    path("", include("moderation.api.perspective_urls")),
]
