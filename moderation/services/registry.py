"""The model registry: which verified model artifacts exist and which one the workers serve.

``register_model(path)`` verifies an artifact and records it as a ``ModelVersion``; ``promote(version)`` and
``rollback()`` switch the active version, each with an audit entry. Workers (``moderation.scoring``) notice
the switch within ``MODERATION_MODEL_CHECK_SECONDS`` and load the new file through ``load_verified`` before
swapping; a file that fails is never served and the current model keeps serving.

Verification: ``training.runtime.load_model``, the one loader, checks the file before anything is
unpickled (sidecar, size, sha256 against the sidecar and the registered one, library versions, and an
allow-list scan of every global the pickle references: see ``training.verify``); then a smoke score here: a
few texts must score in [0, 1] on every label and the thresholds must name known labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from moderation.models import AuditEntry, ModelVersion
from moderation.scoring import VerificationError, load_verified
from training.runtime import file_sha256

# --- State changes (one function each, with its audit entry) ----------------------------------------------


def register_model(path: Path | str, actor_label: str = "system") -> ModelVersion:
    """Verify the artifact at ``path`` and record it (not active). Registering the same file again returns the
    existing row; another file with an already registered version raises VerificationError."""
    path = Path(path).resolve()
    verified = load_verified(path)
    version = verified.model.version
    existing = ModelVersion.objects.filter(version=version).first()
    if existing:
        if existing.sha256 != verified.sha256:
            raise VerificationError(
                f"version {version} is already registered with another file ({existing.path})"
            )
        return existing
    with transaction.atomic():
        row = ModelVersion.objects.create(
            version=version,
            path=str(path),
            sha256=verified.sha256,
            # The thresholds it applies as loaded (with the second stage on, the stage's for toxicity; the
            # smoke check proved the sidecar describes them), which the shadow report reads from this row.
            metadata={
                **verified.model.metadata,
                "thresholds": verified.model.thresholds,
                "stages": verified.model.stages,
            },
            smoke_scores=verified.smoke_scores,
            registered_by=actor_label,
        )
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="model_registered",
            after={"version": version, "path": str(path), "sha256": verified.sha256},
        )
    return row


# Audit actions that change the active version. The activation history is read back from these entries (see
# activation_history): the audit log is append-only and written in the same transaction as each switch, so
# it is the one record of what was active when, on installs older than the history too.
ACTIVATED = "model_activated"  # bootstrap made the shipped model active on a fresh install
PROMOTED = "model_promoted"
ROLLED_BACK = "model_rolled_back"
_NOT_CHECKED = object()


class NothingToRollBack(ModelVersion.DoesNotExist):
    """No version was active before the current one (a DoesNotExist, as callers of ``rollback`` expect)."""


class ActiveVersionChanged(Exception):
    """Another process switched the active version while this one verified its file; nothing changed."""


def _activate(
    target: ModelVersion, actor_label: str, action: str, expected_active: Any = _NOT_CHECKED
) -> ModelVersion:
    """Make ``target`` active with an audit entry ``action``. With ``expected_active`` (a version, or None for
    none), raise ActiveVersionChanged instead if the active version is no longer that one once locked."""
    # Verify the file again: it may have changed on disk since it was registered.
    load_verified(target.path, target.sha256)
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        if expected_active is not _NOT_CHECKED and (current.version if current else None) != expected_active:
            now_active = current.version if current else "none"
            raise ActiveVersionChanged(f"the active version changed to {now_active} meanwhile; nothing done")
        if current and current.pk == target.pk:
            return current
        if current:
            current.is_active = False
            current.save(update_fields=["is_active"])
        target.is_active, target.activated_at = True, timezone.now()
        target.save(update_fields=["is_active", "activated_at"])
        AuditEntry.objects.create(
            actor_label=actor_label,
            action=action,
            before={"active": current.version if current else None},
            after={"active": target.version, "sha256": target.sha256},
        )
    return target


def promote(version: str, actor_label: str = "system") -> ModelVersion:
    """Make ``version`` the active model (re-verified first). Raises ModelVersion.DoesNotExist or
    VerificationError; on error the active version is unchanged."""
    return _activate(ModelVersion.objects.get(version=version), actor_label, PROMOTED)


def activation_history() -> list[str]:
    """The versions made active, oldest first, without those a rollback has undone: the last one is the active
    version (when it was switched through the registry) and the one before it is where ``rollback`` goes.

    Replayed from the audit log: a promotion (or bootstrap's activation) pushes its version, a rollback pops
    the version it left. So promote A, B, C then rollback twice gives B then A, and a rollback is never a
    promotion that the next rollback returns to. Rollbacks recorded when rollback toggled between two versions
    may not match a pop; the replay then resynchronises on the version the entry made active."""
    history: list[str] = []
    entries = (
        AuditEntry.objects.filter(action__in=(ACTIVATED, PROMOTED, ROLLED_BACK), comment__isnull=True)
        .order_by("id")
        .values_list("action", "after")
    )
    for action, after in entries.iterator():
        version = after.get("active") if isinstance(after, dict) else None
        if not version:
            continue
        if action == ROLLED_BACK and history:
            history.pop()
        if history and history[-1] == version:
            continue
        if action == ROLLED_BACK and version in history:
            del history[len(history) - history[::-1].index(version) :]
        else:
            history.append(version)
    return history


def rollback(actor_label: str = "system") -> ModelVersion:
    """Make the version that was active before the current one active again, walking back one step through the
    activation history on each call (see ``activation_history``). Raises NothingToRollBack (a
    ModelVersion.DoesNotExist) if no earlier version was active, VerificationError if its file no longer
    verifies, ActiveVersionChanged if another switch happened meanwhile; on error the active version is
    unchanged."""
    current = ModelVersion.objects.filter(is_active=True).values_list("version", flat=True).first()
    history = activation_history()
    if history and history[-1] == current:
        history.pop()
    if not history:
        raise NothingToRollBack(
            f"no earlier active model version to roll back to ({current or 'no version'} is active and "
            "nothing was active before it)"
        )
    previous = ModelVersion.objects.filter(version=history[-1]).first()
    if previous is None:
        raise NothingToRollBack(
            f"the version active before {current}, {history[-1]}, is no longer registered"
        )
    return _activate(previous, actor_label, ROLLED_BACK, expected_active=current)


def register_default_model(
    path: Path | str, actor_label: str = "bootstrap"
) -> tuple[ModelVersion, bool, bool]:
    """Make the model a fresh install serves (``path``: MODERATION_MODEL_PATH or the shipped
    models/default.joblib) a registered version, active if no version is. Returns (row, registered now,
    activated now). Idempotent: a file already registered (same sha256) is not verified or recorded again,
    and a version that is already active, promoted by a person or not, is never replaced. Raises
    VerificationError (nothing recorded) if the file is unreadable or fails verification."""
    path = Path(path).resolve()
    try:
        sha256 = file_sha256(path)
    except OSError as exc:
        raise VerificationError(f"model file {path} unreadable: {exc}") from None
    row = ModelVersion.objects.filter(sha256=sha256).order_by("id").first()
    registered = row is None
    if row is None:
        row = register_model(path, actor_label=actor_label)
    if ModelVersion.objects.filter(is_active=True).exists():
        return row, registered, False
    try:
        _activate(row, actor_label, ACTIVATED, expected_active=None)
    except ActiveVersionChanged:  # someone promoted a version meanwhile: theirs stays
        return row, registered, False
    return row, registered, True
