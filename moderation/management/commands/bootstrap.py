"""Make a fresh install usable: the default site, a moderator account, a site API key and a registered model.

Credentials come from MODERATION_ADMIN_USER / MODERATION_ADMIN_PASSWORD and MODERATION_API_KEY; what is not
given is generated and printed once (on the run that creates it). The model the install serves
(MODERATION_MODEL_PATH, else the shipped models/default.joblib) is registered and, if no version is active,
made active, so that the first promotion can be rolled back and shadow reports know its thresholds. Running it
again changes nothing; a version someone promoted stays active."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from moderation.scoring import model_path
from moderation.services import DEFAULT_SITE_SLUG, create_api_key, get_or_create_site
from moderation.services.registry import VerificationError, register_default_model


class Command(BaseCommand):
    help = (
        "Create the default site, the moderator account and an API key if they do not exist; register the "
        "served model and make it active if no version is."
    )

    def handle(self, *args, **options):
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
        self._register_model()

    def _register_model(self) -> None:
        # Outside the transaction above: verifying the file takes seconds, and each registry write is atomic.
        path = model_path()
        try:
            row, registered, activated = register_default_model(path, actor_label="bootstrap")
        except VerificationError as exc:
            # Not fatal: the site and its key work without a model (comments wait in the queue), and the
            # readiness check reports the model too.
            self.stderr.write(
                f"Model not registered: {exc}. Fix the file or set MODERATION_MODEL_PATH, then run bootstrap "
                "again."
            )
            return
        if registered:
            self.stdout.write(f"Model {row.version} registered ({row.path})")
        if activated:
            self.stdout.write(f"Model {row.version} is the active model")
