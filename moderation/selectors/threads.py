"""Thread context for the dashboard (issue 21): the parent comment a reply answers, for a whole queue page in
one query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q

from moderation.models import Comment

PARENT_EXCERPT_CHARS = 600


@dataclass(frozen=True)
class Parent:
    """What a card shows of the comment a reply answers. ``comment`` is None when the parent was never
    received (the site sent a ``parent_id`` we have no comment for)."""

    parent_id: str
    comment: Comment | None

    @property
    def received(self) -> bool:
        return self.comment is not None


def parents_for(comments: Iterable[Comment]) -> dict[int, Parent]:
    """{reply's id: Parent} for the comments among ``comments`` that have a ``parent_id``, in one query (the
    unique (site, site_comment_id) index). The parent's text is cut to PARENT_EXCERPT_CHARS; templates escape
    it like any comment text."""
    replies = [c for c in comments if c.parent_id]
    if not replies:
        return {}
    wanted = Q()
    for site_id in {c.site_id for c in replies}:
        ids = {c.parent_id for c in replies if c.site_id == site_id}
        wanted |= Q(site_id=site_id, site_comment_id__in=ids)
    found = {
        (p.site_id, p.site_comment_id): p
        for p in Comment.objects.filter(wanted).only(
            "id", "site_id", "site_comment_id", "text", "author_id", "author_name", "status", "submitted_at"
        )
    }
    out: dict[int, Parent] = {}
    for reply in replies:
        parent = found.get((reply.site_id, reply.parent_id))
        if parent is not None and len(parent.text) > PARENT_EXCERPT_CHARS:
            parent.text = parent.text[:PARENT_EXCERPT_CHARS] + "…"
        out[reply.pk] = Parent(reply.parent_id, parent)
    return out
