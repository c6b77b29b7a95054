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

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from moderation.models import AuditEntry, Decision, DecisionKind, ModelVersion, ShadowScore
from moderation.scoring import judge, load_verified, shadow_model

log = logging.getLogger(__name__)


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


def score_pending(batch: int = 200, budget_seconds: float = 60.0) -> int:
    """Score, with the shadow model, the automatically decided comments since the shadow started that it has
    not scored yet. Returns how many were scored (0 without a shadow or if it fails verification)."""
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
