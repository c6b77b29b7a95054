"""What the site knows about a comment's commenter (issue 21), as collectors for ``selectors.context``.

``collect`` (listed in ``selectors.context.COLLECTORS``) gives both, sharing one read of the states:

- the commenter's state set by the site or a moderator (``models.Commenter``): banned
  rejects with the reason given, suspended rejects until the date, pre-moderated holds, trusted approves what
  the model would only hold (and a trusted commenter is never "new").
- ``context_signals``: what the commenter is doing.

  - A link, phone number or messenger handle in a new commenter's first comments (fewer than
    ``MODERATION_ESTABLISHED_AFTER`` approved) is held: code ``new_commenter_link``.
  - Copies of the same or nearly the same text (``models.text_fingerprint``: the normalised words) are
    rejected as spam from the third on (more than ``MODERATION_COPY_LIMIT`` earlier copies): copies by one
    commenter within ``MODERATION_COMMENTER_COPY_WINDOW_SECONDS`` (any story), or by anyone within
    ``MODERATION_COPY_WINDOW_SECONDS`` when the commenter is new (an established commenter quoting a popular
    line is not a campaign). Code ``spam``.
  - A link to a domain on the site's ``denied_link_domains`` (or a subdomain) is rejected: code
    ``denied_link``. Links only to ``allowed_link_domains`` do not hold a new commenter's comment.
  - More than ``MODERATION_BURST_LIMIT`` comments from one commenter within
    ``MODERATION_BURST_WINDOW_SECONDS`` are held: code ``burst``.

Each answers a whole batch with one or two indexed queries (``Comment`` indexes ``comment_site_author_time``,
``comment_site_fingerprint``, ``comment_author_status``; ``Commenter``'s unique (site, author_id)). "Earlier"
counts the stored comments outside the batch and the earlier items of the batch (stored or not), so a comment
decided again (a retry) is not its own copy; the queries return counts, never rows, however big a campaign.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from moderation.models import (
    Comment,
    Commenter,
    CommenterState,
    CommentStatus,
    Site,
    fingerprint_of_normalized,
)
from moderation.policy import Signal
from training.normalize import normalize

if TYPE_CHECKING:  # context.py lists these collectors
    from moderation.selectors.context import ContextItem

# --- Commenter states ---------------------------------------------------------------------------------------


def _keys(items: Sequence[ContextItem]) -> tuple[set[int], set[str]]:
    return {item.site_id for item in items}, {item.author_id for item in items}


def commenter_signal(state: str, reason: str, until, now) -> Signal | None:
    """The signal of one commenter state (None for normal, and for a suspension that has ended)."""
    because = f": {reason}" if reason else ""
    if state == CommenterState.BANNED:
        return Signal("reject", "banned", f"the commenter is banned{because}")
    if state == CommenterState.SUSPENDED and until is not None and until > now:
        return Signal(
            "reject",
            "suspended",
            f"the commenter is suspended until {until:%Y-%m-%d %H:%M} UTC{because}",
        )
    if state == CommenterState.PREMODERATED:
        return Signal("review", "premoderated", f"the commenter is pre-moderated{because}")
    if state == CommenterState.TRUSTED:
        return Signal("trust", "trusted", f"the commenter is trusted{because}")
    return None


def _state_signals(items: Sequence[ContextItem]) -> dict[tuple[int, str], Signal]:
    sites, authors = _keys(items)
    rows = (
        Commenter.objects.filter(site_id__in=sites, author_id__in=authors)
        .exclude(state=CommenterState.NORMAL)
        .values_list("site_id", "author_id", "state", "reason", "until")
    )
    now = timezone.now()
    signals = {}
    for site_id, author_id, state, reason, until in rows:
        signal = commenter_signal(state, reason, until, now)
        if signal is not None:
            signals[(site_id, author_id)] = signal
    return signals


def collect(items: Sequence[ContextItem]) -> list[tuple[Signal, ...]]:
    """Collector: the commenter's state, then the context signals, sharing the one read of the states (a
    trusted commenter is never "new")."""
    states = _state_signals(items)
    trusted = {key for key, signal in states.items() if signal.action == "trust"}
    found = context_signals(items, trusted=trusted)
    return [
        ((states[key],) if (key := (item.site_id, item.author_id)) in states else ()) + more
        for item, more in zip(items, found, strict=True)
    ]


# --- Context signals ----------------------------------------------------------------------------------------

# Looked for in the normalised text, where "site dot com" and "hxxp" are links again (and "www" is "ww", runs
# of letters being squashed to two): a host after a scheme or "www.", or a bare host ending in a common
# top-level domain. Group 1 or 2 is the host.
_LINK_RE = re.compile(
    r"(?:https?://|\bww+\.)(?:ww+\.)?((?:[a-z0-9-]+\.)*[a-z0-9-]+)"
    r"|\b((?:[a-z0-9][a-z0-9-]*\.)+(?:com|net|org|info|biz|io|co|me|ru|cn|xyz|top|site|online"
    r"|shop|store|click|link|ly|gg|app|live|club|vip|win|bet|casino|loan))\b"
)
# Nine or more digits with at most one separator between them: "+44 7700 900123", "(555) 123-4567".
_PHONE_RE = re.compile(r"(?<![\w.,])\+?\d(?:[\s().-]{0,2}\d){8,}(?![\w])")
_MESSENGER_RE = re.compile(
    r"\b(?:telegram|whatsapp|whats app|wechat|viber|kik|snapchat|skype|t\.me/|wa\.me/)|\bicq\b", re.I
)


_WWW_RE = re.compile(r"^ww+\.")


def link_hosts(normal: str) -> list[str]:
    """The hosts of the links in a normalised text, in order, without "www."."""
    hosts = []
    for match in _LINK_RE.finditer(normal):
        host = (match.group(1) or match.group(2)).strip(".-")
        hosts.append(_WWW_RE.sub("", host))
    return hosts


def on_list(host: str, domains) -> str:
    """The entry of ``domains`` that covers ``host`` (itself or a parent domain), or ""."""
    for domain in domains:
        if host == domain or host.endswith("." + domain):
            return domain
    return ""


def contact_in(text: str, allowed=(), normal: str | None = None) -> str:
    """What a text carries that takes readers elsewhere: "a phone number", "a link" (to a host no entry of
    ``allowed`` covers), "a messenger handle", or ""."""
    if _PHONE_RE.search(text):
        return "a phone number"
    normal = normalize(text) if normal is None else normal
    if any(not on_list(host, allowed) for host in link_hosts(normal)):
        return "a link"
    if _MESSENGER_RE.search(normal):
        return "a messenger handle"
    return ""


def _counts(rows, keys: int) -> Counter:
    """{the first ``keys`` values of each row: the last value (a count)}."""
    return Counter({tuple(row[:keys]): row[keys] for row in rows})


def context_signals(
    items: Sequence[ContextItem], trusted: set[tuple[int, str]] = frozenset()
) -> list[tuple[Signal, ...]]:
    """Collector: new commenters' links, copies of one text, bursts (three indexed queries a batch). A
    commenter in ``trusted`` ((site_id, author_id)) counts as established whatever their record."""
    now = timezone.now()
    sites, authors = _keys(items)
    established_after = settings.MODERATION_ESTABLISHED_AFTER
    burst_limit = settings.MODERATION_BURST_LIMIT
    copy_limit = settings.MODERATION_COPY_LIMIT
    copy_since = now - timedelta(seconds=settings.MODERATION_COPY_WINDOW_SECONDS)
    own_copy_since = now - timedelta(seconds=settings.MODERATION_COMMENTER_COPY_WINDOW_SECONDS)
    burst_since = now - timedelta(seconds=settings.MODERATION_BURST_WINDOW_SECONDS)

    approved = Counter(
        {
            (site_id, author_id): n
            for site_id, author_id, n in Comment.objects.filter(
                site_id__in=sites, author_id__in=authors, status=CommentStatus.APPROVED
            )
            .values_list("site_id", "author_id")
            .annotate(n=Count("id"))
            .order_by()
        }
    )
    # Stored comments other than this batch's (a stored batch, on the decide path, counts its own earlier
    # items as an unstored one does; comments stored after the batch's last one are not earlier).
    stored_ids = [item.comment_id for item in items if item.comment_id is not None]
    others = Comment.objects.filter(site_id__in=sites).exclude(pk__in=stored_ids)
    if stored_ids:
        others = others.filter(pk__lt=max(stored_ids))
    # Counts, not rows: a commenter's minute or a campaign's hour can hold thousands of comments.
    recent = _counts(
        others.filter(author_id__in=authors, submitted_at__gte=burst_since)
        .values_list("site_id", "author_id")
        .annotate(n=Count("id"))
        .order_by(),
        2,
    )
    lists = {
        pk: (allowed or [], denied or [])
        for pk, allowed, denied in Site.objects.filter(pk__in=sites).values_list(
            "pk", "allowed_link_domains", "denied_link_domains"
        )
    }
    normals = [normalize(item.text) for item in items]  # once a comment: ~50 µs each
    prints = [fingerprint_of_normalized(normal) for normal in normals]
    wanted = {fp for fp in prints if fp}
    own_copies: Counter = Counter()
    site_copies: Counter = Counter()
    if wanted:
        copies = others.filter(text_fingerprint__in=wanted)
        own_copies = _counts(
            copies.filter(author_id__in=authors, submitted_at__gte=own_copy_since)
            .values_list("site_id", "text_fingerprint", "author_id")
            .annotate(n=Count("id"))
            .order_by(),
            3,
        )
        site_copies = _counts(
            copies.filter(submitted_at__gte=copy_since)
            .values_list("site_id", "text_fingerprint")
            .annotate(n=Count("id"))
            .order_by(),
            2,
        )

    out: list[tuple[Signal, ...]] = []
    batch_posts: Counter = Counter()
    batch_copies: dict[tuple[int, str], list[str]] = defaultdict(list)
    for item, fp, normal in zip(items, prints, normals, strict=True):
        key = (item.site_id, item.author_id)
        new = approved[key] < established_after and key not in trusted
        found: list[Signal] = []
        if fp:
            own = own_copies[(item.site_id, fp, item.author_id)]
            own += batch_copies[(item.site_id, fp)].count(item.author_id)
            anyone = site_copies[(item.site_id, fp)] + len(batch_copies[(item.site_id, fp)])
            if own >= copy_limit:
                found.append(
                    Signal(
                        "reject",
                        "spam",
                        f"the same text was posted by this commenter {own} times before (copy {own + 1})",
                    )
                )
            elif new and anyone >= copy_limit:
                found.append(
                    Signal(
                        "reject",
                        "spam",
                        f"the same text was posted {anyone} times before by commenters on this site "
                        f"(copy {anyone + 1}, from a new commenter)",
                    )
                )
        allowed, denied = lists.get(item.site_id, ([], []))
        if denied:
            for host in link_hosts(normal):
                entry = on_list(host, denied)
                if entry:
                    found.append(
                        Signal(
                            "reject", "denied_link", f"a link to {host}: {entry} is on the site's deny list"
                        )
                    )
                    break
        posts = recent[key] + batch_posts[key]
        if posts >= burst_limit:
            found.append(
                Signal(
                    "review",
                    "burst",
                    f"{posts + 1} comments from this commenter within "
                    f"{settings.MODERATION_BURST_WINDOW_SECONDS} s (more than {burst_limit})",
                )
            )
        if new and not any(signal.action == "reject" for signal in found):
            what = contact_in(item.text, allowed, normal)
            if what:
                found.append(
                    Signal(
                        "review",
                        "new_commenter_link",
                        f"{what} in a new commenter's first comments ({approved[key]} approved so far)",
                    )
                )
        batch_posts[key] += 1
        if fp:
            batch_copies[(item.site_id, fp)].append(item.author_id)
        out.append(tuple(found))
    return out
