"""Site adapters in the registry (issue 20): which verified adapters a site has, which one serves it, which
one is shadowed.

``register_adapter(site, path)`` verifies an adapter (``training.adapter.load_adapter``: sidecar, sha256,
library versions, the pickle's allow-list, and that it was fitted on the model serving now, whose feature
columns its head reads) and records it as a ``SiteAdapterVersion``; ``activate_adapter``, ``shadow_adapter``,
``stop_adapter_shadow`` and ``remove_adapter`` change what a site's comments are scored with, each with its
audit entry in the same transaction. Workers (``moderation.scoring.site_adapters``) notice a change within
``MODERATION_MODEL_CHECK_SECONDS``; an adapter whose base model is no longer the active model is not served
(its site gets the shared scores) until one fitted on the new model is registered and activated.
"""

from __future__ import annotations

import math
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from moderation.models import AuditEntry, Site, SiteAdapterVersion
from moderation.scoring import SMOKE_TEXTS, VerificationError, current_model
from moderation.services.shadow import mark_shadow
from training.adapter import SiteAdapter, load_adapter
from training.runtime import ArtifactError, ModelArtifact
from training.verify import read_metadata

__all__ = [
    "activate_adapter",
    "register_adapter",
    "remove_adapter",
    "shadow_adapter",
    "stop_adapter_shadow",
]


def _verified(path: Path | str, model: ModelArtifact, expected_sha256: str | None = None) -> SiteAdapter:
    """Load the adapter at ``path`` on ``model`` (every check of ``load_adapter``) and smoke-score it: its
    label must score in [0, 1]. Raises VerificationError saying which check failed."""
    try:
        adapter = load_adapter(path, model, expected_sha256=expected_sha256)
    except ArtifactError as exc:
        raise VerificationError(str(exc)) from None
    if adapter.label not in model.labels or set(adapter.thresholds) - set(model.labels):
        raise VerificationError(f"adapter {adapter.version} names a label the model {model.version} lacks")
    try:
        scores = adapter.score(model, SMOKE_TEXTS)
    except Exception as exc:  # noqa: BLE001  whatever it raises, it is not served
        raise VerificationError(f"adapter {adapter.version}: smoke score failed: {exc}") from None
    for text, row in zip(SMOKE_TEXTS, scores, strict=True):
        value = row[adapter.label]
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise VerificationError(f"adapter {adapter.version}: smoke score of {text!r} is {value}")
    return adapter


def register_adapter(site: Site, path: Path | str, actor_label: str = "system") -> SiteAdapterVersion:
    """Verify the adapter at ``path`` against the model serving now (``scoring.current_model``) and record it
    for ``site`` (not active). Registering the same file again returns the existing row. Raises
    VerificationError (nothing recorded) for a file that fails a check, an adapter fitted on another model
    (refit it on the active one), an adapter fitted for another site, or a version already registered for
    the site with another file; ModelUnavailable if no model can be served."""
    path = Path(path).resolve()
    model = current_model()
    adapter = _verified(path, model)
    sidecar = read_metadata(path)  # load_adapter has just checked the file against it
    fitted_for = str(sidecar.get("site") or "")
    if fitted_for and fitted_for != site.slug:
        raise VerificationError(
            f"adapter {adapter.version} was fitted for site {fitted_for!r}, not {site.slug!r}: a site's "
            "adapter learns that site's labels and is never shared"
        )
    base_sha256 = str(adapter.base_model.get("sha256", ""))
    file_sha = str(sidecar["sha256"])
    existing = SiteAdapterVersion.objects.filter(site=site, version=adapter.version).first()
    if existing:
        if existing.sha256 != file_sha:
            raise VerificationError(
                f"adapter version {adapter.version} is already registered for {site.slug} with another file "
                f"({existing.path})"
            )
        return existing
    with transaction.atomic():
        row = SiteAdapterVersion.objects.create(
            site=site,
            version=adapter.version,
            path=str(path),
            sha256=file_sha,
            label=adapter.label,
            base_model_version=str(adapter.base_model.get("version", "")),
            base_model_sha256=base_sha256,
            thresholds=adapter.thresholds,
            metadata={"fit": adapter.fit},
            registered_by=actor_label,
        )
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="adapter_registered",
            after={
                "site": site.slug,
                "adapter": row.version,
                "path": row.path,
                "sha256": file_sha,
                "base_model": row.base_model_version,
            },
        )
    return row


def _get(site: Site, version: str | None) -> SiteAdapterVersion:
    """The site's registered adapter ``version``, or its latest registered one. Raises
    SiteAdapterVersion.DoesNotExist naming what the site has."""
    rows = SiteAdapterVersion.objects.filter(site=site)
    row = rows.filter(version=version).first() if version else rows.order_by("-registered_at", "-id").first()
    if row is None:
        known = ", ".join(rows.values_list("version", flat=True)) or "none"
        wanted = f"adapter {version!r}" if version else "an adapter"
        raise SiteAdapterVersion.DoesNotExist(
            f"site {site.slug} has no registered {wanted} (registered: {known}); register one with "
            "`manage.py register_adapter`"
        )
    return row


def _check_serves(row: SiteAdapterVersion) -> None:
    """Re-verify ``row``'s file (it may have changed since it was registered) on the model serving now."""
    _verified(row.path, current_model(), expected_sha256=row.sha256)


def activate_adapter(
    site: Site, version: str | None = None, actor_label: str = "system"
) -> SiteAdapterVersion:
    """Make the site's registered adapter ``version`` (its latest if None) the one that scores its comments,
    re-verified on the active model first; it stops being the shadow. Raises SiteAdapterVersion.DoesNotExist
    or VerificationError; on error nothing changes."""
    row = _get(site, version)
    _check_serves(row)
    with transaction.atomic():
        current = SiteAdapterVersion.objects.select_for_update().filter(site=site, is_active=True).first()
        if current and current.pk == row.pk:
            return current
        if current:
            current.is_active = False
            current.save(update_fields=["is_active"])
        row.is_active, row.activated_at, row.is_shadow = True, timezone.now(), False
        row.save(update_fields=["is_active", "activated_at", "is_shadow"])
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="adapter_activated",
            before={"site": site.slug, "adapter": current.version if current else None},
            after={"site": site.slug, "adapter": row.version, "sha256": row.sha256},
        )
    return row


def remove_adapter(site: Site, actor_label: str = "system") -> SiteAdapterVersion | None:
    """Stop adapting the site's scores: its comments get the shared model's again (the registration stays,
    to activate again). Returns the adapter that was active, if any."""
    return _switch_off(site, "is_active", "adapter_removed", "adapter", actor_label)


def shadow_adapter(site: Site, version: str | None = None, actor_label: str = "system") -> SiteAdapterVersion:
    """Make the site's registered adapter ``version`` (its latest if None) the site's shadow: the shadow task
    (``services.shadow.score_pending``) scores the site's decided comments with it and stores what it would
    have decided, never deciding. Re-verified first; the active adapter cannot be its own shadow. Raises
    SiteAdapterVersion.DoesNotExist, VerificationError or ValueError."""
    row = _get(site, version)
    if row.is_active:
        raise ValueError(f"{row.version} is {site.slug}'s active adapter; shadow a candidate instead")
    _check_serves(row)
    return mark_shadow(
        SiteAdapterVersion.objects.filter(site=site),
        row,
        "adapter_shadow_started",
        actor_label,
        context={"site": site.slug},
    )


def stop_adapter_shadow(site: Site, actor_label: str = "system") -> SiteAdapterVersion | None:
    """Stop shadowing the site's shadow adapter (its stored shadow scores stay). Returns it, if any."""
    return _switch_off(site, "is_shadow", "adapter_shadow_stopped", "shadow", actor_label)


def _switch_off(site: Site, flag: str, action: str, key: str, actor_label: str) -> SiteAdapterVersion | None:
    """Clear ``flag`` (is_active / is_shadow) on the site's adapter that has it, audited as ``action`` with
    the version under ``key``. Returns that adapter, or None if none had it."""
    with transaction.atomic():
        row = SiteAdapterVersion.objects.select_for_update().filter(site=site, **{flag: True}).first()
        if row is None:
            return None
        setattr(row, flag, False)
        row.save(update_fields=[flag])
        AuditEntry.objects.create(
            actor_label=actor_label,
            action=action,
            before={"site": site.slug, key: row.version},
            after={"site": site.slug, key: None},
        )
    return row
