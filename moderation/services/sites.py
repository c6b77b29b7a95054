"""Sites: the default one, and a site by its slug (created on first use, as the Celery path names sites)."""

from __future__ import annotations

from moderation.models import Site

DEFAULT_SITE_SLUG = "default"


def get_or_create_site(slug: str = DEFAULT_SITE_SLUG, name: str | None = None) -> Site:
    site, _ = Site.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return site
