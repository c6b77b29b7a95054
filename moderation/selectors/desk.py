"""A site's desk controls as context signals (issue 21): its word lists and its stories' modes, collected by
``desk_signals`` (in ``selectors.context.COLLECTORS``), plus the lookups the decide paths, the API and the
dashboard need (a story's thresholds, closed stories, the word list and story pages).

A batch costs one query (``site_controls``) for sites that use no control: the stories are looked up only for
sites with a controlled story (``Site.controlled_stories``), and the text is normalised only for sites with a
word list. Word lists are matched on the normalised text (``training.normalize.normalize``: spaced-out
letters, leet, homoglyphs, zero-width characters and stretched letters are undone), as whole words or phrases,
never inside another word. Each process keeps one compiled pattern per site and list, rebuilt when the site's
``word_lists_version`` (bumped by every change, in its transaction) differs from the one it was built at.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count

from moderation.models import Comment, Site, Story, StoryMode, WordList, WordListEntry
from moderation.policy import Signal
from moderation.selectors.dashboard import visible_site_ids
from training.normalize import normalize

if TYPE_CHECKING:  # selectors.context lists these collectors
    from moderation.selectors.context import ContextItem

CLOSED_REASON = "the story is closed to comments"
PREMODERATED_REASON = "the story is pre-moderated: every comment is held for a person"


# Spaced-out letters with leet among them ("b 4 n 4 n 4"): normalize joins spaced letters and undoes leet
# inside words, but not both at once. Runs of single characters are de-leeted one by one first, as a second
# view of the text that word lists are matched on (the model's normalisation is a pickled contract, so this
# stays here).
_SPACED_RUN = re.compile(r"(?<!\S)(?:\S[ \t]+){2,}\S(?!\S)")
_LEET_CHARS = {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s", "7": "t"}


def matchable_texts(text: str) -> list[str]:
    """The normalised views of ``text`` that word lists are matched on: ``normalize(text)``, and for text with
    spaced-out characters, the same after de-leeting each of them."""
    views = [normalize(text)]
    if _SPACED_RUN.search(text):
        spaced = _SPACED_RUN.sub(lambda m: " ".join(_LEET_CHARS.get(c, c) for c in m.group(0).split()), text)
        other = normalize(spaced)
        if other != views[0]:
            views.append(other)
    return views


def normalize_phrase(phrase: str) -> str:
    """A word list entry as it is matched: normalised like comment text, white space collapsed."""
    return " ".join(normalize(phrase).split())


@dataclass(frozen=True)
class _Matcher:
    pattern: re.Pattern[str]
    phrases: dict[str, str]  # normalised phrase -> the phrase as the moderator entered it

    def first(self, views: list[str]) -> str | None:
        """The first entry found in any of the text's normalised ``views`` (``matchable_texts``), or None."""
        for view in views:
            found = self.pattern.search(view)
            if found is not None:
                return self.phrases.get(" ".join(found.group(0).split()), found.group(0))
        return None


def _compile(entries: Iterable[tuple[str, str]]) -> _Matcher | None:
    phrases = dict(entries)
    if not phrases:
        return None
    # Longest first, so "kill yourself" is named rather than a shorter entry it contains.
    alternatives = sorted(phrases, key=lambda p: (-len(p), p))
    body = "|".join(r"\s+".join(re.escape(token) for token in p.split()) for p in alternatives)
    return _Matcher(re.compile(rf"(?<!\w)(?:{body})(?!\w)"), phrases)


# site id -> ((word_lists_version, the site's created_at), {list: matcher}). created_at tells a site apart
# from one that had its id before (SQLite reuses the highest id of a deleted row; test databases roll back).
_cache: dict[int, tuple[tuple, dict[str, _Matcher]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class SiteControls:
    """What a batch needs to know of a site before looking further: its word lists' version (0: never had an
    entry) and how many of its stories have controls (0: none to look up)."""

    word_lists_version: int
    created_at: object
    controlled_stories: int


def site_controls(site_ids: Iterable[int]) -> dict[int, SiteControls]:
    """{site id: SiteControls}, in one query: the only one a batch costs for sites that use no control."""
    rows = Site.objects.filter(pk__in=set(site_ids)).values_list(
        "pk", "word_lists_version", "created_at", "controlled_stories"
    )
    return {pk: SiteControls(version, created, stories) for pk, version, created, stories in rows}


def desk_signals(items: Sequence[ContextItem]) -> list[tuple[Signal, ...]]:
    """The collector (selectors.context.COLLECTORS): story controls' signals, then word lists', per item."""
    controls = site_controls({item.site_id for item in items})
    by_story = story_signals(items, controls)
    by_words = word_list_signals(items, controls)
    return [story + words for story, words in zip(by_story, by_words, strict=True)]


def word_list_matchers(
    site_ids: Iterable[int], controls: dict[int, SiteControls] | None = None
) -> dict[int, dict[str, _Matcher]]:
    """{site id: {"block"|"watch": matcher}} for the sites that have entries: one query for the sites'
    versions (none when ``controls`` are given), and one per site whose lists changed since this process
    compiled them."""
    controls = site_controls(site_ids) if controls is None else controls
    out: dict[int, dict[str, _Matcher]] = {}
    for site_id, control in controls.items():
        number, created_at = control.word_lists_version, control.created_at
        if number == 0:  # never had an entry
            continue
        version = (number, created_at)
        cached = _cache.get(site_id)
        if cached is None or cached[0] != version:
            rows = WordListEntry.objects.filter(site_id=site_id).values_list("list", "normalized", "phrase")
            by_list: dict[str, list[tuple[str, str]]] = {}
            for word_list, normalized, phrase in rows:
                by_list.setdefault(word_list, []).append((normalized, phrase))
            compiled = {name: m for name, entries in by_list.items() if (m := _compile(entries))}
            with _cache_lock:
                _cache[site_id] = cached = (version, compiled)
        if cached[1]:
            out[site_id] = cached[1]
    return out


def word_list_signals(
    items: Sequence[ContextItem], controls: dict[int, SiteControls] | None = None
) -> list[tuple[Signal, ...]]:
    """A reject signal for a comment with a phrase of its site's block list, a review signal for one of its
    watch list; the reason names the list and the entry."""
    matchers = word_list_matchers({item.site_id for item in items}, controls)
    out: list[tuple[Signal, ...]] = []
    for item in items:
        lists = matchers.get(item.site_id)
        if not lists:
            out.append(())
            continue
        text = matchable_texts(item.text)
        found = []
        for word_list, action in ((WordList.BLOCK, "reject"), (WordList.WATCH, "review")):
            matcher = lists.get(word_list)
            phrase = matcher.first(text) if matcher else None
            if phrase is not None:
                found.append(
                    Signal(action, f"{word_list}_list", f"on the site's {word_list} list: {phrase!r}")
                )
        out.append(tuple(found))
    return out


def story_signals(
    items: Sequence[ContextItem], controls: dict[int, SiteControls] | None = None
) -> list[tuple[Signal, ...]]:
    """A review signal for a comment on a pre-moderated story; a reject signal for one on a closed story,
    unless it was stored before the story was closed (comments already queued are decided as usual)."""
    controls = site_controls({item.site_id for item in items}) if controls is None else controls
    site_ids = {site_id for site_id, control in controls.items() if control.controlled_stories}
    if not site_ids:
        return [() for _ in items]
    rows = Story.objects.filter(
        site_id__in=site_ids, story_id__in={item.story_id for item in items if item.site_id in site_ids}
    ).exclude(mode=StoryMode.OPEN)
    stories = {
        (site_id, story_id): (mode, closed_at)
        for site_id, story_id, mode, closed_at in rows.values_list("site_id", "story_id", "mode", "closed_at")
    }
    if not stories:
        return [() for _ in items]
    stored_ids = [
        item.comment_id
        for item in items
        if item.comment_id is not None
        and stories.get((item.site_id, item.story_id), ("",))[0] == StoryMode.CLOSED
    ]
    submitted = (
        dict(Comment.objects.filter(pk__in=stored_ids).values_list("pk", "submitted_at"))
        if stored_ids
        else {}
    )
    out: list[tuple[Signal, ...]] = []
    for item in items:
        mode, closed_at = stories.get((item.site_id, item.story_id), (StoryMode.OPEN, None))
        if mode == StoryMode.PREMODERATED:
            out.append((Signal("review", "premoderated", PREMODERATED_REASON),))
        elif mode == StoryMode.CLOSED:
            at = submitted.get(item.comment_id) if item.comment_id is not None else None
            if at is not None and closed_at is not None and at < closed_at:
                out.append(())  # stored before the story was closed
            else:
                out.append((Signal("reject", "closed", CLOSED_REASON),))
        else:
            out.append(())
    return out


def closed_story_ids(site: Site, story_ids: Iterable[str]) -> set[str]:
    """The ids among ``story_ids`` of ``site``'s stories that are closed to new comments (no query for a site
    without story controls)."""
    if not site.controlled_stories:
        return set()
    return set(
        Story.objects.filter(site=site, story_id__in=set(story_ids), mode=StoryMode.CLOSED).values_list(
            "story_id", flat=True
        )
    )


def stories_with_thresholds(
    keys: Iterable[tuple[int, str]], sites: Iterable[Site] | None = None
) -> dict[tuple[int, str], Story]:
    """{(site id, story id): Story} for the stories among ``keys`` that have their own thresholds. With
    ``sites`` (the keys' Site rows, already read), sites without story controls are not looked up."""
    keys = set(keys)
    if sites is not None:
        controlled = {site.pk for site in sites if site is not None and site.controlled_stories}
        keys = {key for key in keys if key[0] in controlled}
    if not keys:
        return {}
    rows = Story.objects.filter(
        site_id__in={site_id for site_id, _ in keys}, story_id__in={story_id for _, story_id in keys}
    ).exclude(policy_overrides={})
    return {(s.site_id, s.story_id): s for s in rows if (s.site_id, s.story_id) in keys}


def story_for(site: Site, story_id: str) -> Story | None:
    return Story.objects.filter(site=site, story_id=story_id).first()


def sites_for(user) -> list[Site]:
    """The sites ``user`` may see (selectors.dashboard.visible_site_ids), by slug: the word list and story
    pages' site menu."""
    from_ids = visible_site_ids(user)
    rows = Site.objects.order_by("slug")
    return list(rows if from_ids is None else rows.filter(pk__in=from_ids))


def story_comment_counts(site: Site, story_id: str) -> dict[str, int]:
    """{status: n} of a story's comments (the (story_id, status) index)."""
    rows = Comment.objects.filter(story_id=story_id, site=site).values_list("status").annotate(n=Count("id"))
    return dict(rows.order_by())


def word_list_entries(site: Site) -> dict[str, list[WordListEntry]]:
    """{"block": [...], "watch": [...]} for the word list page."""
    out: dict[str, list[WordListEntry]] = {name: [] for name in WordList.values}
    for entry in WordListEntry.objects.filter(site=site).order_by("list", "normalized"):
        out[entry.list].append(entry)
    return out
