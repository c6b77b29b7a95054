"""How a shadow candidate compares with the models that decided the same comments, and with moderators."""

from __future__ import annotations

from typing import Any

from moderation.models import Decision, DecisionKind, ModelVersion, ShadowScore, Site, SiteAdapterVersion
from moderation.policy import band, thresholds_for
from moderation.selectors.tuning import moderator_labels


def shadow_report(version: str) -> dict[str, Any]:
    """Compare shadow ``version`` with the models that decided the same comments.

    Returns ``{"scored", "changed", "changes": {"auto→shadow": n}, "labels": {label: {...}},
    "unregistered": {version: n}}`` where per label: ``moderated`` (comments a moderator approved or rejected
    last), ``active_agreement`` / ``shadow_agreement`` (share of those where the label flagging the comment —
    score at or above its review threshold — matches the moderator rejecting it), ``would_change`` (comments
    whose band for this label — none / review / reject — differs between the thresholds of the version that
    decided the comment and the shadow's). ``changes`` compares stored outcomes and counts every comment;
    the per-label figures need the deciding version's thresholds, from its registry row, so comments decided
    by a version with no row are left out of them and counted in ``unregistered`` (``manage.py bootstrap``
    registers the shipped model). ``version`` may be a site's shadow adapter (issue 20): its thresholds are
    then its base model's with the adapter's over them, and both sides are read at the site's own overrides
    (as its comments were decided). Raises ModelVersion.DoesNotExist for an unknown ``version``."""
    shadow_thresholds, site = _shadow_thresholds(version)
    rows = list(
        ShadowScore.objects.filter(model_version=version).values_list("comment_id", "scores", "outcome")
    )
    ids = [pk for pk, _, _ in rows]
    auto = {
        pk: (outcome, scores, model_version)
        for pk, outcome, scores, model_version in Decision.objects.filter(
            kind=DecisionKind.AUTOMATIC, comment_id__in=ids
        ).values_list("comment_id", "outcome", "scores", "model_version")
    }
    deciding = {model_version for _, _, model_version in auto.values()}
    active_thresholds = {
        v: thresholds_for(site, m.get("thresholds", {})) if site is not None else m.get("thresholds", {})
        for v, m in ModelVersion.objects.filter(version__in=deciding).values_list("version", "metadata")
    }
    moderated = moderator_labels(ids)  # comment -> moderator rejected (latest moderator decision)
    changes: dict[str, int] = {}
    unregistered: dict[str, int] = {}
    labels: dict[str, dict[str, Any]] = {}
    for pk, shadow_scores, shadow_outcome in rows:
        if pk not in auto:
            continue
        auto_outcome, auto_scores, auto_version = auto[pk]
        if auto_outcome != shadow_outcome:
            key = f"{auto_outcome}→{shadow_outcome}"
            changes[key] = changes.get(key, 0) + 1
        if auto_version not in active_thresholds:
            # Without the deciding version's thresholds every band would read "none": not a comparison.
            unregistered[auto_version] = unregistered.get(auto_version, 0) + 1
            continue
        thresholds = active_thresholds[auto_version]
        for label in sorted(set(shadow_thresholds) | set(thresholds)):
            stats = labels.setdefault(
                label, {"moderated": 0, "active_agree": 0, "shadow_agree": 0, "would_change": 0}
            )
            active_band = band(auto_scores.get(label), thresholds.get(label))
            shadow_band = band(shadow_scores.get(label), shadow_thresholds.get(label))
            stats["would_change"] += active_band != shadow_band
            if pk in moderated:
                stats["moderated"] += 1
                stats["active_agree"] += (active_band != "none") == moderated[pk]
                stats["shadow_agree"] += (shadow_band != "none") == moderated[pk]
    for stats in labels.values():
        n = stats["moderated"]
        stats["active_agreement"] = round(stats.pop("active_agree") / n, 4) if n else None
        stats["shadow_agreement"] = round(stats.pop("shadow_agree") / n, 4) if n else None
    return {
        "version": version,
        "scored": len(rows),
        "changed": sum(changes.values()),
        "changes": changes,
        "labels": labels,
        "unregistered": unregistered,
    }


def _shadow_thresholds(version: str) -> tuple[dict[str, Any], Site | None]:
    """(the shadow's thresholds, the site whose adapter it is, or None for a model)."""
    row = ModelVersion.objects.filter(version=version).first()
    if row is not None:
        return row.metadata.get("thresholds", {}), None
    adapter = SiteAdapterVersion.objects.select_related("site").filter(version=version).first()
    if adapter is None:
        raise ModelVersion.DoesNotExist(f"no registered model or site adapter {version!r}")
    base_row = ModelVersion.objects.filter(sha256=adapter.base_model_sha256)
    base = base_row.values_list("metadata", flat=True).first() or {}
    merged = {label: dict(cuts) for label, cuts in base.get("thresholds", {}).items()}
    merged.update({label: dict(cuts) for label, cuts in adapter.thresholds.items()})
    return thresholds_for(adapter.site, merged), adapter.site
