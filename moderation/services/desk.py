"""A site's desk controls (issue 21): its word lists and its stories' modes and thresholds. One function per
change, each with its audit entry in the same transaction; the decide paths read them through
``moderation.selectors.desk``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from moderation.models import AuditEntry, Site, Story, StoryMode, WordList, WordListEntry
from moderation.selectors.desk import normalize_phrase
from moderation.validation import validate_policy_overrides

MAX_PHRASE_CHARS = 100
MAX_ENTRIES_PER_LIST = 5000


def add_word_list_entry(site: Site, word_list: str, phrase: str, actor_label: str) -> WordListEntry:
    """Put ``phrase`` on ``site``'s ``word_list`` ("block" or "watch"). Returns the entry (the existing one if
    the phrase, normalised, is already on that list). Raises django ValidationError naming the field: an
    unknown list, an empty phrase or one over MAX_PHRASE_CHARS, a phrase that normalises to nothing, or a
    full list."""
    if word_list not in WordList.values:
        raise ValidationError({"list": f"must be one of {', '.join(WordList.values)}"})
    phrase = " ".join((phrase or "").split())
    if not phrase:
        raise ValidationError({"phrase": "must not be empty"})
    if len(phrase) > MAX_PHRASE_CHARS:
        raise ValidationError({"phrase": f"is {len(phrase)} characters; the limit is {MAX_PHRASE_CHARS}"})
    normalized = normalize_phrase(phrase)
    if not any(ch.isalnum() for ch in normalized):
        raise ValidationError({"phrase": "has no letters or digits once normalised"})
    with transaction.atomic():
        existing = WordListEntry.objects.filter(site=site, list=word_list, normalized=normalized).first()
        if existing:
            return existing
        if WordListEntry.objects.filter(site=site, list=word_list).count() >= MAX_ENTRIES_PER_LIST:
            raise ValidationError(
                {"phrase": f"the {word_list} list is full ({MAX_ENTRIES_PER_LIST} entries)"}
            )
        entry = WordListEntry.objects.create(
            site=site, list=word_list, phrase=phrase, normalized=normalized, added_by=actor_label
        )
        _bump_word_lists(site)
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="word_list_added",
            after={"site": site.slug, "list": word_list, "phrase": phrase, "normalized": normalized},
        )
    return entry


def remove_word_list_entry(site: Site, entry_id: int, actor_label: str) -> bool:
    """Take an entry off ``site``'s word lists. Returns False if there is no such entry on that site."""
    with transaction.atomic():
        entry = WordListEntry.objects.select_for_update().filter(site=site, pk=entry_id).first()
        if entry is None:
            return False
        entry.delete()
        _bump_word_lists(site)
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="word_list_removed",
            before={
                "site": site.slug,
                "list": entry.list,
                "phrase": entry.phrase,
                "normalized": entry.normalized,
            },
        )
    return True


def _bump_word_lists(site: Site) -> None:
    # Every process's compiled pattern for this site (selectors.desk) is rebuilt when it sees the new number.
    Site.objects.filter(pk=site.pk).update(word_lists_version=F("word_lists_version") + 1)


def _story_state(story: Story | None) -> dict[str, Any]:
    if story is None:
        return {"mode": StoryMode.OPEN.value, "policy_overrides": {}}
    return {"mode": story.mode, "policy_overrides": dict(story.policy_overrides or {}), "title": story.title}


def set_story_controls(
    site: Site,
    story_id: str,
    actor_label: str,
    mode: str | None = None,
    policy_overrides: Mapping[str, Mapping[str, float]] | None = None,
    title: str | None = None,
) -> Story:
    """Set a story's mode (open / premoderated / closed), its thresholds over the site's (``policy_overrides``
    replaces the story's; ``{}`` clears them) and its title; what is None is left as it is. Audited with the
    state before and after. Raises django ValidationError naming the field."""
    story_id = (story_id or "").strip()
    if not story_id:
        raise ValidationError({"story_id": "must not be empty"})
    if len(story_id) > 255:
        raise ValidationError({"story_id": f"is {len(story_id)} characters; the limit is 255"})
    if mode is not None and mode not in StoryMode.values:
        raise ValidationError({"mode": f"must be one of {', '.join(StoryMode.values)}"})
    if policy_overrides is not None:
        try:
            validate_policy_overrides(policy_overrides)
        except ValidationError as exc:
            raise ValidationError({"policy_overrides": exc.messages}) from None
    if title is not None and len(title) > 500:
        raise ValidationError({"title": f"is {len(title)} characters; the limit is 500"})
    with transaction.atomic():
        story = Story.objects.select_for_update().filter(site=site, story_id=story_id).first()
        before = _story_state(story)
        if story is None:
            story = Story(site=site, story_id=story_id)
        if mode is not None:
            if mode == StoryMode.CLOSED and story.mode != StoryMode.CLOSED:
                story.closed_at = timezone.now()
            story.mode = mode
        if policy_overrides is not None:
            story.policy_overrides = {label: dict(cuts) for label, cuts in policy_overrides.items()}
        if title is not None:
            story.title = title.strip()
        story.updated_by = actor_label
        story.save()
        # Sites with no controlled story skip the story lookups of every decide batch (selectors.desk).
        site.controlled_stories = (
            Story.objects.filter(site=site).exclude(mode=StoryMode.OPEN, policy_overrides={}).count()
        )
        Site.objects.filter(pk=site.pk).update(controlled_stories=site.controlled_stories)
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="story_controls_changed",
            before={"site": site.slug, "story_id": story_id, **before},
            after={"site": site.slug, "story_id": story_id, **_story_state(story)},
        )
    return story
