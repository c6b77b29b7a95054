"""``manage.py erase_author SITE AUTHOR_ID``: erase an author's personal data on one site
(moderation/services/privacy.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation.models import Site
from moderation.services import erase_author


class Command(BaseCommand):
    help = (
        "Erase an author's comment text, names, IP addresses and derived data on one site, leaving "
        "tombstones."
    )

    def add_arguments(self, parser):
        parser.add_argument("site", help="the site's slug")
        parser.add_argument("author_id", help="the author id as the site sent it")

    def handle(self, *args, site: str, author_id: str, **options):
        site_row = Site.objects.filter(slug=site).first()
        if site_row is None:
            raise CommandError(
                f"no site {site!r} (slugs: {', '.join(Site.objects.values_list('slug', flat=True))})"
            )
        erasure = erase_author(site_row, author_id, actor_label="manage.py erase_author")
        if not erasure.comment_ids and not erasure.dropped_submissions:
            raise CommandError(f"site {site} has no comments by this author (nothing erased)")
        self.stdout.write(
            f"Erased {len(erasure.comment_ids)} comment(s) on {site} and {erasure.dropped_submissions} "
            f"queued submission message(s); audit entry {erasure.audit_id}"
        )
