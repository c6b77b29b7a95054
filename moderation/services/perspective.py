"""Storing Perspective SuggestCommentScore requests as labels for retraining (``SuggestedScore``).

A suggestion is the site's opinion of a text, not a decision on a comment: nothing in the moderation state
changes, so no audit entry is written. ``selectors.labels.export_labels`` reads them back for training."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from moderation.models import Site, SuggestedScore


def record_suggested_scores(
    site: Site,
    text: str,
    suggestions: Iterable[Mapping[str, Any]],
    *,
    client_token: str = "",
    community_id: str = "",
    languages: list[str] | None = None,
) -> list[SuggestedScore]:
    """Store one SuggestedScore per suggestion (``attribute``, ``label``, ``score``, ``span_scores``), in one
    statement. The caller has checked that storing is allowed (MODERATION_STORE_SUGGESTED_SCORES on, no
    doNotStore)."""
    rows = [
        SuggestedScore(
            site=site,
            text=text,
            attribute=s["attribute"],
            label=s["label"],
            score=s["score"],
            span_scores=s.get("span_scores") or [],
            client_token=client_token,
            community_id=community_id,
            languages=languages or [],
        )
        for s in suggestions
    ]
    return SuggestedScore.objects.bulk_create(rows)
