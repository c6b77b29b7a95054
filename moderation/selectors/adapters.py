"""Which site adapters a site has and which of them the active model can serve (issue 20)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from moderation.models import ModelVersion, Site, SiteAdapterVersion


def stale_adapters(model_sha256: str) -> list[SiteAdapterVersion]:
    """The active or shadow adapters fitted on another model than ``model_sha256``: not served under it (their
    sites get the shared scores) until one fitted on it is registered. What promote and rollback warn of."""
    return list(
        SiteAdapterVersion.objects.select_related("site")
        .filter(Q(is_active=True) | Q(is_shadow=True))
        .exclude(base_model_sha256=model_sha256)
        .order_by("site__slug", "id")
    )


def stale_adapter_warnings(model: ModelVersion) -> list[str]:
    """One warning line per adapter `stale_adapters` finds under the newly active `model`: what promote and
    rollback print."""
    return [
        f"warning: site {adapter.site.slug}'s adapter {adapter.version} was fitted on model "
        f"{adapter.base_model_version}: not served under {model.version}, the site gets the shared scores "
        "until an adapter fitted on it is registered (`python -m training adapt`, "
        "`manage.py register_adapter`)"
        for adapter in stale_adapters(model.sha256)
    ]


def site_adapter_rows(site: Site) -> list[dict[str, Any]]:
    """The site's registered adapters, newest first, each with its state (active / shadow / registered) and
    whether the registry's active model can serve it (``serves``: it was fitted on that model; None without an
    active registered model)."""
    active_sha = ModelVersion.objects.filter(is_active=True).values_list("sha256", flat=True).first()
    return [
        {
            "version": row.version,
            "state": "active" if row.is_active else "shadow" if row.is_shadow else "registered",
            "label": row.label,
            "base_model": row.base_model_version,
            "serves": None if active_sha is None else row.base_model_sha256 == active_sha,
            "thresholds": row.thresholds,
            "path": row.path,
            "registered_at": row.registered_at.isoformat(timespec="seconds"),
        }
        for row in SiteAdapterVersion.objects.filter(site=site).order_by("-registered_at", "-id")
    ]
