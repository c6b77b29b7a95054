"""Shadow mode: a registered candidate model scores the comments the active model decides, without deciding.

``start_shadow(version)`` (verified first, audited) marks a ``ModelVersion`` as the shadow; the periodic task
``moderation.shadow_score`` (Celery beat) scores every comment automatically decided since then with it and
stores a ``ShadowScore`` (scores + the outcome its thresholds would give). Nothing about the comment or its
decision changes, and the scoring happens in its own task, so the shadow can be slow or broken without
touching decisions. ``shadow_report(version)`` compares it with the model(s) that decided and with moderators'
decisions.

A site's shadow adapter (``services.adapters.shadow_adapter``, issue 20) goes through the same task: the
site's comments decided since it started are scored by the active model with the adapter on top, and a
``ShadowScore`` under the adapter's version stores its scores and the outcome at the site's thresholds over
the adapter's.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from moderation.models import (
    AuditEntry,
    Decision,
    DecisionKind,
    ModelVersion,
    ShadowScore,
    SiteAdapterVersion,
)
from moderation.policy import thresholds_for
from moderation.scoring import (
    ModelUnavailable,
    adapted_thresholds,
    current_model,
    judge,
    load_site_adapter,
    load_verified,
    shadow_model,
)

log = logging.getLogger(__name__)


def start_shadow(version: str, actor_label: str = "system") -> ModelVersion:
    """Make registered ``version`` the shadow model (re-verified first; the active version cannot be its own
    shadow). Raises ModelVersion.DoesNotExist, VerificationError or ValueError."""
    row = ModelVersion.objects.get(version=version)
    if row.is_active:
        raise ValueError(f"{version} is the active model; shadow a candidate instead")
    load_verified(row.path, row.sha256)
    return mark_shadow(ModelVersion.objects.all(), row, "model_shadow_started", actor_label)


def mark_shadow(candidates, row, action: str, actor_label: str, context: dict | None = None):
    """Make ``row`` the one shadow among ``candidates`` (model versions, or one site's adapters: rows with
    ``is_shadow`` and ``shadow_since``), the previous one unmarked, audited as ``action`` in the same
    transaction (``context`` added to both sides of the entry). Returns ``row``."""
    context = context or {}
    with transaction.atomic():
        previous = candidates.select_for_update().filter(is_shadow=True).first()
        if previous and previous.pk != row.pk:
            previous.is_shadow = False
            previous.save(update_fields=["is_shadow"])
        if not row.is_shadow:
            row.is_shadow, row.shadow_since = True, timezone.now()
            row.save(update_fields=["is_shadow", "shadow_since"])
        AuditEntry.objects.create(
            actor_label=actor_label,
            action=action,
            before={**context, "shadow": previous.version if previous else None},
            after={**context, "shadow": row.version},
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


def score_pending(batch: int = 200, budget_seconds: float = 60.0) -> int:
    """Score, with the shadow model and each site's shadow adapter, the automatically decided comments since
    the shadow started that it has not scored yet. Returns how many were scored (0 without a shadow or if it
    fails verification)."""
    started = time.monotonic()
    done = _score_model_shadow(batch, budget_seconds)
    return done + _score_adapter_shadows(batch, max(0.0, budget_seconds - (time.monotonic() - started)))


def _score_model_shadow(batch: int, budget_seconds: float) -> int:
    row = ModelVersion.objects.filter(is_shadow=True).first()
    if row is None:
        return 0
    model = shadow_model(row)
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
                    outcome=judge(scores, model.thresholds, model.version).outcome,
                )
                for (pk, _), scores in zip(pending, all_scores, strict=True)
            ],
            ignore_conflicts=True,  # another worker scored the same comments meanwhile
        )
        done += len(pending)
    return done


def _score_adapter_shadows(batch: int, budget_seconds: float) -> int:
    """Score each site's shadow adapter's pending comments (the site's, decided since it started). An adapter
    fitted on another model than the active one, or failing verification, is skipped (logged)."""
    rows = list(SiteAdapterVersion.objects.filter(is_shadow=True).select_related("site"))
    if not rows:
        return 0
    try:
        model = current_model()
    except ModelUnavailable as exc:
        log.warning("shadow adapters not scored: %s", exc)
        return 0
    done, started = 0, time.monotonic()
    for row in rows:
        adapter = load_site_adapter(model, row.version, row.path, row.sha256, row.base_model_sha256)
        if adapter is None:
            continue
        thresholds = thresholds_for(row.site, adapted_thresholds(model.thresholds, adapter))
        while time.monotonic() - started < budget_seconds:
            pending = list(
                Decision.objects.filter(
                    kind=DecisionKind.AUTOMATIC, comment__site=row.site, created_at__gte=row.shadow_since
                )
                .exclude(
                    Exists(
                        ShadowScore.objects.filter(
                            comment_id=OuterRef("comment_id"), model_version=row.version
                        )
                    )
                )
                .order_by("id")
                .values_list("comment_id", "comment__text")[:batch]
            )
            if not pending:
                break
            scores, features = model.score_with_features([text for _, text in pending])
            adapter.rescore(scores, features)
            ShadowScore.objects.bulk_create(
                [
                    ShadowScore(
                        comment_id=pk,
                        model_version=row.version,  # the adapter's: adapter versions name their site
                        scores=row_scores,
                        outcome=judge(row_scores, thresholds, model.version).outcome,
                    )
                    for (pk, _), row_scores in zip(pending, scores, strict=True)
                ],
                ignore_conflicts=True,
            )
            done += len(pending)
    return done
