"""Make a fresh install usable: the default site, a moderator account and a site API key.

Credentials come from MODERATION_ADMIN_USER / MODERATION_ADMIN_PASSWORD and MODERATION_API_KEY; what is not given
is generated and printed once (on the run that creates it). Running it again changes nothing."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from moderation.services import DEFAULT_SITE_SLUG, create_api_key, get_or_create_site


class Command(BaseCommand):
    help = "Create the default site, the moderator account and an API key if they do not exist."

    def handle(self, *args, **options):
        import os

        User = get_user_model()
        username = os.environ.get("MODERATION_ADMIN_USER") or "admin"
        password = os.environ.get("MODERATION_ADMIN_PASSWORD") or ""
        raw_key = os.environ.get("MODERATION_API_KEY") or ""
        with transaction.atomic():
            site = get_or_create_site(DEFAULT_SITE_SLUG, "Default site")
            user = User.objects.filter(username=username).first()
            if user is None:
                generated = not password
                password = password or secrets.token_urlsafe(12)
                User.objects.create_superuser(username=username, password=password, email="")
                shown = password if generated else "(from MODERATION_ADMIN_PASSWORD)"
                self.stdout.write(f"Moderator account created: {username} / {shown}")
            elif password and not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
                self.stdout.write(f"Moderator password for {username} set from MODERATION_ADMIN_PASSWORD")
            if raw_key:
                key, _ = create_api_key(site, raw_key, name="from MODERATION_API_KEY")
                if key.site_id != site.pk:
                    self.stderr.write("MODERATION_API_KEY belongs to another site; not changed")
            elif not site.api_keys.filter(revoked_at__isnull=True).exists():
                _, raw_key = create_api_key(site)
                self.stdout.write(f"Site API key created (shown once, keep it): {raw_key}")
