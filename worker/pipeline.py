"""Deciding stored comments: score them in one batch with the model, apply the policy, record the decisions."""

from __future__ import annotations

import logging

from django.conf import settings

from moderation.engine import ModelUnavailable, current_model
from moderation.models import Comment, CommentStatus
from moderation.services import ModelVerdict, record_model_decisions, record_scoring_failure


log = logging.getLogger(__name__)


def decide_comments(comment_ids: list[int]) -> list[int]:
    """Decide the comments among ``comment_ids`` that are still ``queued``.

    Scores them in one model call; if that call fails, scores them one by one so a single poison comment cannot
    hold up the rest. Returns the ids whose scoring failed and that should be tried again (each failure is
    counted; after MODERATION_MAX_ATTEMPTS a comment is marked ``failed`` and is not returned).
    A model that cannot be loaded sends the comments to review with that reason.
    """
    rows = list(
        Comment.objects.filter(pk__in=comment_ids, status=CommentStatus.QUEUED).values_list("pk", "text")
    )
    if not rows:
        return []
    try:
        model = current_model()
    except ModelUnavailable as exc:
        record_model_decisions(
            ModelVerdict(pk, None, "", {}, error=str(exc)) for pk, _ in rows
        )
        return []

    verdicts: list[ModelVerdict] = []
    retry: list[int] = []
    try:
        all_scores = model.score([text for _, text in rows])
        verdicts = [
            ModelVerdict(pk, scores, model.version, model.thresholds) for (pk, _), scores in zip(rows, all_scores)
        ]
    except Exception:
        log.exception("batch scoring of %d comments failed; scoring one by one", len(rows))
        for pk, text in rows:
            try:
                (scores,) = model.score([text])
            except Exception as exc:
                log.exception("scoring comment %s failed", pk)
                comment = record_scoring_failure(pk, f"{type(exc).__name__}: {exc}", settings.MODERATION_MAX_ATTEMPTS)
                if comment is not None and comment.status == CommentStatus.QUEUED:
                    retry.append(pk)
                continue
            verdicts.append(ModelVerdict(pk, scores, model.version, model.thresholds))
    record_model_decisions(verdicts)
    return retry
