"""What the site knows about comments beyond their text (issue 21), as ``policy.Signal``s for the one verdict.

The decide paths (``services.ingest``) describe each comment as a ``ContextItem`` and ask ``signals_for`` for
the signals of a whole batch at once, so each collector can answer a batch with a few indexed queries. A
collector is a function ``(items) -> list[tuple[Signal, ...]]`` (one tuple per item, in order) listed in
``COLLECTORS``; it reads, never writes. Items of one batch are in submission order: a collector that counts
copies or bursts counts the earlier items of the batch as well as the stored comments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings

from moderation.policy import Signal
from moderation.selectors import commenters, desk


@dataclass(frozen=True)
class ContextItem:
    """One comment being decided: stored (``comment_id`` set) or about to be stored with its decision."""

    site_id: int
    author_id: str
    story_id: str
    text: str
    parent_id: str = ""
    comment_id: int | None = None
    site_comment_id: str = ""


Collector = Callable[[Sequence[ContextItem]], list[tuple[Signal, ...]]]

COLLECTORS: list[Collector] = [desk.desk_signals, commenters.collect]


def signals_for(items: Sequence[ContextItem]) -> list[tuple[Signal, ...]]:
    """The signals of each item, in order: every collector's, concatenated. None at all with
    ``MODERATION_CONTEXT_LOOKUPS`` off (the benchmark's side-by-side measure of what they cost)."""
    out: list[tuple[Signal, ...]] = [() for _ in items]
    if not items or not settings.MODERATION_CONTEXT_LOOKUPS:
        return out
    for collect in COLLECTORS:
        for i, found in enumerate(collect(items)):
            if found:
                out[i] = out[i] + tuple(found)
    return out
