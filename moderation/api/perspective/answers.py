"""Answering Perspective's two methods: AnalyzeComment scored by this process's model (sentence spans on
request), SuggestCommentScore stored as labels for retraining when the settings allow it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from moderation.api.perspective.requests import (
    PerspectiveError,
    bool_at,
    check_context,
    check_language,
    comment_text,
    languages_at,
    requested_attributes,
    string_at,
    suggestions,
)
from moderation.models import Site
from moderation.scoring import ModelUnavailable, current_model, score_for_sites
from moderation.services.perspective import record_suggested_scores

# --- Scoring ------------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"')\]»”’]*(?=\s|$)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of ``text`` as ``[begin, end)`` code-point offsets, surrounding white space excluded:
    ``"What kind of idiot name is foo? Sorry, I like your name."`` → ``[(0, 31), (32, 56)]``."""
    spans: list[tuple[int, int]] = []
    start = 0
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not ends or ends[-1] < len(text):
        ends.append(len(text))
    for end in ends:
        chunk = text[start:end]
        stripped = chunk.strip()
        if stripped:
            begin = start + (len(chunk) - len(chunk.lstrip()))
            spans.append((begin, begin + len(stripped)))
        start = end
    return spans


def _score(value: float, score_type: str) -> dict[str, Any]:
    return {"value": value, "type": score_type}


def analyze_comment(data: Mapping[str, Any], site: Site | None = None) -> dict[str, Any]:
    """Answer an AnalyzeComment request body (already decoded) for ``site`` (the API key's): with its active
    adapter, the site's TOXICITY is the adapted score, as its own comments are scored. Raises
    PerspectiveError."""
    text = comment_text(data)
    check_context(data)
    attributes = requested_attributes(data)
    languages, detected = check_language(text, languages_at(data), attributes)
    want_spans = bool_at(data, "spanAnnotations")
    bool_at(data, "doNotStore")  # validated only: analyze never stores anything
    client_token = string_at(data, "clientToken", "clientToken")
    string_at(data, "sessionId", "sessionId")
    string_at(data, "communityId", "communityId")
    try:
        model = current_model()
    except ModelUnavailable as exc:
        raise PerspectiveError(
            f"The scoring model is unavailable: {exc}", status="UNAVAILABLE", error_type=None
        ) from exc
    spans = sentence_spans(text) if want_spans else []
    texts = [text] + [text[b:e] for b, e in spans]
    scored = score_for_sites(model, texts, [site.pk if site is not None else None] * len(texts)).scores
    summary, span_rows = scored[0], scored[1:]

    attribute_scores: dict[str, Any] = {}
    for attribute in attributes:
        threshold = attribute.threshold
        entry: dict[str, Any] = {}
        if want_spans:
            span_scores = [
                {"begin": b, "end": e, "score": _score(row[attribute.label], attribute.score_type)}
                for (b, e), row in zip(spans, span_rows, strict=True)
                if threshold is None or row[attribute.label] >= threshold
            ]
            if span_scores:
                entry["spanScores"] = span_scores
        value = summary[attribute.label]
        if threshold is None or value >= threshold:
            entry["summaryScore"] = _score(value, attribute.score_type)
        if entry:
            attribute_scores[attribute.name] = entry
    response: dict[str, Any] = {"attributeScores": attribute_scores, "languages": languages}
    if detected is not None:
        response["detectedLanguages"] = detected
    if client_token is not None:
        response["clientToken"] = client_token
    return response


def suggest_comment_score(site: Site, data: Mapping[str, Any]) -> dict[str, Any]:
    """Answer a SuggestCommentScore request body; stores the suggestion if the settings allow it."""
    text = comment_text(data)
    check_context(data)
    found = suggestions(data, text)
    languages = languages_at(data)
    client_token = string_at(data, "clientToken", "clientToken")
    community_id = string_at(data, "communityId", "communityId")
    do_not_store = bool_at(data, "doNotStore")
    if settings.MODERATION_STORE_SUGGESTED_SCORES and not do_not_store:
        record_suggested_scores(
            site,
            text,
            [
                {"attribute": s.attribute, "label": s.label, "score": s.score, "span_scores": s.span_scores}
                for s in found
            ],
            client_token=client_token or "",
            community_id=community_id or "",
            languages=languages,
        )
    return {"clientToken": client_token} if client_token is not None else {}
