"""URL patterns of the Perspective-compatible API; mount with ``path("",
include("moderation.api.perspective_urls"))``."""

from django.urls import path

from moderation.api import coral, perspective

urlpatterns = [
    path("v1alpha1/comments:analyze", perspective.analyze, name="perspective-analyze"),
    path("v1alpha1/comments:suggestscore", perspective.suggest_score, name="perspective-suggestscore"),
    path("coral/v1/moderation", coral.moderation, name="coral-moderation"),
]
