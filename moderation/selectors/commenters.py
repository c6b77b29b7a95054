"""What the site knows about a comment's commenter (issue 21), as collectors for ``selectors.context``.

``collect`` (listed in ``selectors.context.COLLECTORS``) gives both, sharing one read of the states:

- the commenter's state set by the site or a moderator (``models.Commenter``): banned
  rejects with the reason given, suspended rejects until the date, pre-moderated holds, trusted approves what
  the model would only hold (and a trusted commenter is never "new").
- ``context_signals``: what the commenter is doing.

  - A link, phone number or messenger handle in a new commenter's first comments (fewer than
    ``MODERATION_ESTABLISHED_AFTER`` approved) is held: code ``new_commenter_link``; on a site with
    ``hold_links`` on, in any comment but a trusted commenter's: code ``held_link``.
  - Copies of the same or nearly the same text (``models.text_fingerprint``: the normalised words) are
    rejected as spam from the third on (more than ``MODERATION_COPY_LIMIT`` earlier copies): copies by one
    commenter within ``MODERATION_COMMENTER_COPY_WINDOW_SECONDS`` (any story), or by anyone within
    ``MODERATION_COPY_WINDOW_SECONDS`` when the commenter is new (an established commenter quoting a popular
    line is not a campaign). Code ``spam``.
  - A link to a domain on the site's ``denied_link_domains`` (or a subdomain) is rejected: code
    ``denied_link``. Links only to ``allowed_link_domains`` do not hold a new commenter's comment.
  - More than ``MODERATION_BURST_LIMIT`` comments from one commenter within
    ``MODERATION_BURST_WINDOW_SECONDS`` are held: code ``burst``.

A batch costs three queries: the commenters' states, the sites' link lists, and one statement of counts
(``_capped_counts``), each counted up to what the signal needs (3 approved, 10 recent, 100 copies) by an index
(``Comment``'s ``comment_site_author_status``, ``comment_site_author_time``, ``comment_site_fingerprint``), so
a commenter's long history or a campaign's thousand copies cost no more than a newcomer. "Earlier" counts the
stored comments outside the batch and the earlier items of the batch (stored or not), so a comment decided
again (a retry) is not its own copy.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections, router
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


def denied_link_signal(normal: str, denied) -> Signal | None:
    """A reject signal for the first link of a normalised text to a host that ``denied`` covers, or None."""
    for host in link_hosts(normal):
        entry = on_list(host, denied)
        if entry:
            return Signal("reject", "denied_link", f"a link to {host}: {entry} is on the site's deny list")
    return None


def held_link_signal(text: str, allowed, normal: str) -> Signal | None:
    """The hold of a site with ``hold_links`` on, for a text that carries a link (off ``allowed``), a phone
    number or a messenger handle, or None."""
    what = contact_in(text, allowed, normal)
    return (
        Signal("review", "held_link", f"{what}: the site holds every comment that has one") if what else None
    )


def link_signals(site: Site, text: str) -> tuple[Signal, ...]:
    """What ``site``'s link settings do to ``text`` from a commenter it knows nothing about (neither trusted
    nor new): for ``POST /api/v1/check``, which warns a writer before posting."""
    normal = normalize(text)
    if site.denied_link_domains and (signal := denied_link_signal(normal, site.denied_link_domains)):
        return (signal,)
    if site.hold_links and (signal := held_link_signal(text, site.allowed_link_domains or [], normal)):
        return (signal,)
    return ()


# PostgreSQL takes at most 1,664 entries in a select list, SQLite 2,000 columns and 32,766 parameters.
_COUNTS_PER_STATEMENT = 200
# Copies are counted up to this many (the reason says "at least" beyond it): enough to tell a campaign, and a
# bound on what each batch reads while one runs.
_COPIES_COUNTED_UP_TO = 100
_COLUMNS = {
    "site": "site",
    "author": "author_id",
    "status": "status",
    "submitted": "submitted_at",
    "fingerprint": "text_fingerprint",
    "id": "id",
}


def _capped_counts(arms: Sequence[tuple[str, list, int]]) -> list[int]:
    """For each ``(condition, params, cap)``, how many comments match the condition, counted up to ``cap``:
    one statement of scalar subqueries per 200 conditions, each stopping after ``cap`` rows (``LIMIT``), so an
    indexed lookup reads at most ``cap`` entries however many rows match (a regular's ten thousand approved
    comments, a spammer's thousand a minute). A condition names columns as ``{site}``, ``{author}``,
    ``{status}``, ``{submitted}``, ``{fingerprint}`` and ``{id}``, and takes ``%s`` parameters."""
    connection = connections[router.db_for_read(Comment)]
    quote = connection.ops.quote_name
    columns = {name: quote(Comment._meta.get_field(field).column) for name, field in _COLUMNS.items()}
    table = quote(Comment._meta.db_table)
    dates: dict[datetime, object] = {}  # a batch's few windows, each adapted once, not once an arm

    def prepare(value):
        if not isinstance(value, datetime):
            return value
        if value not in dates:
            dates[value] = connection.ops.adapt_datetimefield_value(value)
        return dates[value]

    counts: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(arms), _COUNTS_PER_STATEMENT):
            chunk = arms[start : start + _COUNTS_PER_STATEMENT]
            selects = [
                f"(SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {condition.format(**columns)} "
                f"LIMIT {max(int(cap), 0)}) AS capped)"
                for condition, _, cap in chunk
            ]
            params = [prepare(value) for _, arm_params, _ in chunk for value in arm_params]
            cursor.execute("SELECT " + ", ".join(selects), params)
            counts.extend(cursor.fetchone())
    return counts


def _earlier(condition: str, params: list, last_stored: int | None, batch_ids: Sequence[int]) -> tuple:
    """``condition`` narrowed to comments other than this batch's stored ones (a stored batch, on the decide
    path, counts its own earlier items as an unstored one does), and stored before its last one (comments
    stored after it are not earlier)."""
    if last_stored is not None:
        condition += " AND {id} < %s"
        params = [*params, last_stored]
    if batch_ids:
        condition += " AND {id} NOT IN (" + ", ".join(["%s"] * len(batch_ids)) + ")"
        params = [*params, *batch_ids]
    return condition, params


def _times(copies: int, capped: bool, note: str = "") -> str:
    """How many copies came before, in words: "2 times before (copy 3)", or where the stored ones were counted
    up to the cap only, "at least 100 times before"; ``note`` joins the parenthesis."""
    if capped:
        return f"at least {copies} times before" + (f" ({note})" if note else "")
    return f"{copies} times before (copy {copies + 1}" + (f", {note})" if note else ")")


def context_signals(
    items: Sequence[ContextItem], trusted: set[tuple[int, str]] = frozenset()
) -> list[tuple[Signal, ...]]:
    """Collector: new commenters' links, copies of one text, bursts (two queries a batch: the sites' link
    lists, and every count at once). A commenter in ``trusted`` ((site_id, author_id)) counts as established
    whatever their record."""
    now = timezone.now()
    sites = {item.site_id for item in items}
    established_after = settings.MODERATION_ESTABLISHED_AFTER
    burst_limit = settings.MODERATION_BURST_LIMIT
    copy_limit = settings.MODERATION_COPY_LIMIT
    copy_since = now - timedelta(seconds=settings.MODERATION_COPY_WINDOW_SECONDS)
    own_copy_since = now - timedelta(seconds=settings.MODERATION_COMMENTER_COPY_WINDOW_SECONDS)
    burst_since = now - timedelta(seconds=settings.MODERATION_BURST_WINDOW_SECONDS)

    lists = {
        pk: (allowed or [], denied or [], hold)
        for pk, allowed, denied, hold in Site.objects.filter(pk__in=sites).values_list(
            "pk", "allowed_link_domains", "denied_link_domains", "hold_links"
        )
    }
    normals = [normalize(item.text) for item in items]  # the model's features reuse it (normalize caches)
    prints = [fingerprint_of_normalized(normal) for normal in normals]

    stored_by_key: dict[tuple[int, str], list[int]] = defaultdict(list)
    stored_by_print: dict[tuple[int, str], list[int]] = defaultdict(list)
    for item, fp in zip(items, prints, strict=True):
        if item.comment_id is not None:
            stored_by_key[(item.site_id, item.author_id)].append(item.comment_id)
            if fp:
                stored_by_print[(item.site_id, fp)].append(item.comment_id)
    last = max((item.comment_id for item in items if item.comment_id is not None), default=None)
    keys = sorted({(item.site_id, item.author_id) for item in items})
    print_keys = sorted({(item.site_id, fp) for item, fp in zip(items, prints, strict=True) if fp})
    own_keys = sorted(
        {(item.site_id, fp, item.author_id) for item, fp in zip(items, prints, strict=True) if fp}
    )
    # One count per key and signal, each capped at what its signal needs; all four kinds in one statement.
    approved_arms = [
        (
            "{site} = %s AND {author} = %s AND {status} = %s",
            [*key, CommentStatus.APPROVED.value],
            established_after,
        )
        for key in keys
    ]
    recent_arms = [
        (
            *_earlier(
                "{site} = %s AND {author} = %s AND {submitted} >= %s",
                [*key, burst_since],
                last,
                stored_by_key.get(key, ()),
            ),
            burst_limit,
        )
        for key in keys
    ]
    own_copy_arms = [
        (
            *_earlier(
                "{site} = %s AND {fingerprint} = %s AND {author} = %s AND {submitted} >= %s",
                [site_id, fp, author_id, own_copy_since],
                last,
                stored_by_print.get((site_id, fp), ()),
            ),
            _COPIES_COUNTED_UP_TO,
        )
        for site_id, fp, author_id in own_keys
    ]
    site_copy_arms = [
        (
            *_earlier(
                "{site} = %s AND {fingerprint} = %s AND {submitted} >= %s",
                [site_id, fp, copy_since],
                last,
                stored_by_print.get((site_id, fp), ()),
            ),
            _COPIES_COUNTED_UP_TO,
        )
        for site_id, fp in print_keys
    ]
    counts = iter(_capped_counts(approved_arms + recent_arms + own_copy_arms + site_copy_arms))
    approved = {key: next(counts) for key in keys}
    recent = {key: next(counts) for key in keys}
    own_copies = {key: next(counts) for key in own_keys}
    site_copies = {key: next(counts) for key in print_keys}

    out: list[tuple[Signal, ...]] = []
    batch_posts: Counter = Counter()
    batch_copies: dict[tuple[int, str], list[str]] = defaultdict(list)
    for item, fp, normal in zip(items, prints, normals, strict=True):
        key = (item.site_id, item.author_id)
        new = approved[key] < established_after and key not in trusted
        found: list[Signal] = []
        if fp:
            stored_own = own_copies[(item.site_id, fp, item.author_id)]
            own = stored_own + batch_copies[(item.site_id, fp)].count(item.author_id)
            stored_anyone = site_copies[(item.site_id, fp)]
            anyone = stored_anyone + len(batch_copies[(item.site_id, fp)])
            if own >= copy_limit:
                times = _times(own, stored_own >= _COPIES_COUNTED_UP_TO)
                found.append(Signal("reject", "spam", f"the same text was posted by this commenter {times}"))
            elif new and anyone >= copy_limit:
                times = _times(anyone, stored_anyone >= _COPIES_COUNTED_UP_TO, "from a new commenter")
                found.append(
                    Signal("reject", "spam", f"the same text was posted by commenters on this site {times}")
                )
        allowed, denied, hold_links = lists.get(item.site_id, ([], [], False))
        if denied and (signal := denied_link_signal(normal, denied)):
            found.append(signal)
        posts = recent[key] + batch_posts[key]
        if posts >= burst_limit:
            within = f"comments from this commenter within {settings.MODERATION_BURST_WINDOW_SECONDS} s"
            # The stored ones are counted up to the limit only.
            if recent[key] >= burst_limit:
                found.append(Signal("review", "burst", f"more than {burst_limit} {within}"))
            else:
                found.append(Signal("review", "burst", f"{posts + 1} {within} (more than {burst_limit})"))
        rejected = any(signal.action == "reject" for signal in found)
        if new and not rejected:
            what = contact_in(item.text, allowed, normal)
            if what:
                found.append(
                    Signal(
                        "review",
                        "new_commenter_link",
                        f"{what} in a new commenter's first comments ({approved[key]} approved so far)",
                    )
                )
        elif hold_links and key not in trusted and not rejected:
            if signal := held_link_signal(item.text, allowed, normal):
                found.append(signal)
        batch_posts[key] += 1
        if fp:
            batch_copies[(item.site_id, fp)].append(item.author_id)
        out.append(tuple(found))
    return out
