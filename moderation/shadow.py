"""Shadow mode: a registered candidate model scores the comments the active model decides, without deciding.

``start_shadow(version)`` (verified first, audited) marks a ``ModelVersion`` as the shadow; the periodic task
``moderation.shadow_score`` (Celery beat) scores every comment automatically decided since then with it and
stores a ``ShadowScore`` (scores + the outcome its thresholds would give). Nothing about the comment or its
decision changes, and the scoring happens in its own task, so the shadow can be slow or broken without
touching decisions. ``shadow_report(version)`` compares it with the model(s) that decided and with moderators'
decisions.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from moderation.models import AuditEntry, Decision, DecisionKind, ModelVersion, ShadowScore
from moderation.policy import apply_policy
from moderation.registry import VerificationError, load_verified
from moderation.selectors.tuning import moderator_labels
from training.runtime import ModelArtifact

log = logging.getLogger(__name__)

_loaded: tuple[str, ModelArtifact] | None = None  # (sha256, model) of the shadow loaded in this process


def start_shadow(version: str, actor_label: str = "system") -> ModelVersion:
    """Make registered ``version`` the shadow model (re-verified first; the active version cannot be its own
    shadow). Raises ModelVersion.DoesNotExist, VerificationError or ValueError."""
    row = ModelVersion.objects.get(version=version)
    if row.is_active:
        raise ValueError(f"{version} is the active model; shadow a candidate instead")
    load_verified(row.path, row.sha256)
    with transaction.atomic():
        previous = ModelVersion.objects.select_for_update().filter(is_shadow=True).first()
        if previous and previous.pk != row.pk:
            previous.is_shadow = False
            previous.save(update_fields=["is_shadow"])
        if not row.is_shadow:
            row.is_shadow, row.shadow_since = True, timezone.now()
            row.save(update_fields=["is_shadow", "shadow_since"])
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="model_shadow_started",
            before={"shadow": previous.version if previous else None},
            after={"shadow": row.version},
        )
    return row


def stop_shadow(actor_label: str = "system") -> ModelVersion | None:
    """Stop shadow scoring (the scores already stored stay). Returns the former shadow, if any."""
    with transaction.atomic():
        row = ModelVersion.objects.select_for_update().filter(is_shadow=True).first()
        if row is None:
            return None
        row.is_shadow = False
        row.save(update_fields=["is_shadow"])
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="model_shadow_stopped",
            before={"shadow": row.version},
            after={"shadow": None},
        )
    return row


def _shadow_model(row: ModelVersion) -> ModelArtifact | None:
    global _loaded
    if _loaded is None or _loaded[0] != row.sha256:
        try:
            _loaded = (row.sha256, load_verified(row.path, row.sha256).model)
        except VerificationError as exc:
            log.error("shadow model %s failed verification, not scoring with it: %s", row.version, exc)
            return None
    return _loaded[1]


def score_pending(batch: int = 200, budget_seconds: float = 60.0) -> int:
    """Score, with the shadow model, the automatically decided comments since the shadow started that it has
    not scored yet. Returns how many were scored (0 without a shadow or if it fails verification)."""
    row = ModelVersion.objects.filter(is_shadow=True).first()
    if row is None:
        return 0
    model = _shadow_model(row)
    if model is None:
        return 0
    done, started = 0, time.monotonic()
    while time.monotonic() - started < budget_seconds:
        pending = list(
            Decision.objects.filter(kind=DecisionKind.AUTOMATIC, created_at__gte=row.shadow_since)
            .exclude(
                Exists(
                    ShadowScore.objects.filter(comment_id=OuterRef("comment_id"), model_version=row.version)
                )
            )
            .order_by("id")
            .values_list("comment_id", "comment__text")[:batch]
        )
        if not pending:
            break
        all_scores = model.score([text for _, text in pending])
        ShadowScore.objects.bulk_create(
            [
                ShadowScore(
                    comment_id=pk,
                    model_version=row.version,
                    scores=scores,
                    outcome=apply_policy(scores, model.thresholds).outcome,
                )
                for (pk, _), scores in zip(pending, all_scores, strict=True)
            ],
            ignore_conflicts=True,  # another worker scored the same comments meanwhile
        )
        done += len(pending)
    return done


def _band(score: float | None, limits: dict[str, float] | None) -> str:
    """'reject' / 'review' / 'none' for one label's score at one model's thresholds."""
    if score is None or not limits:
        return "none"
    if limits.get("reject") is not None and score >= limits["reject"]:
        return "reject"
    if limits.get("review") is not None and score >= limits["review"]:
        return "review"
    return "none"


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
    registers the shipped model). Raises ModelVersion.DoesNotExist for an unknown ``version``."""
    shadow_row = ModelVersion.objects.get(version=version)
    shadow_thresholds = shadow_row.metadata.get("thresholds", {})
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
        v: m.get("thresholds", {})
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
            active_band = _band(auto_scores.get(label), thresholds.get(label))
            shadow_band = _band(shadow_scores.get(label), shadow_thresholds.get(label))
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
