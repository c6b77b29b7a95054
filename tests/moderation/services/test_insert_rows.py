"""insert_rows, the bulk write of the Celery path: executemany on SQLite, COPY on PostgreSQL. Both must store
what the ORM would, and a duplicate must surface as Django's IntegrityError (the caller falls back on it)."""

import pytest
from django.db import IntegrityError, transaction

from moderation.models import AuditEntry, Comment, Decision
from moderation.services import insert_rows

pytestmark = pytest.mark.django_db


def test_rows_are_stored_as_the_orm_would_store_them(site):
    text = 'Quotes " and \\ backslash, tab\tand\nnewline, émoji 😀'
    comment = Comment(
        site=site,
        site_comment_id="ir-1",
        text=text,
        author_id="a",
        story_id="s",
        ip="203.0.113.9",
        scores={"toxicity": 0.25},
        reasons=["toxicity 0.25 ≥ review threshold 0.08"],
    )
    insert_rows([comment])
    stored = Comment.objects.get(site=site, site_comment_id="ir-1")
    assert (stored.text, stored.ip, stored.scores, stored.reasons) == (
        text,
        "203.0.113.9",
        {"toxicity": 0.25},
        ["toxicity 0.25 ≥ review threshold 0.08"],
    )
    assert stored.submitted_at is not None and stored.status == "queued"
    insert_rows(
        [
            Decision(
                comment=stored,
                kind="auto",
                outcome="approved",
                scores={"spam": 0.1},
                reasons=[],
                model_version="v1",
            ),
        ]
    )
    insert_rows(
        [
            AuditEntry(
                actor_label="model",
                action="auto_approved",
                comment=stored,
                before={"a": None},
                after={"status": "approved"},
            )
        ]
    )
    assert Decision.objects.get(comment=stored).scores == {"spam": 0.1}
    assert AuditEntry.objects.get(comment=stored).after == {"status": "approved"}


def test_a_duplicate_is_djangos_integrity_error(site):
    insert_rows([Comment(site=site, site_comment_id="ir-dup", text="x", author_id="a", story_id="s")])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows([Comment(site=site, site_comment_id="ir-dup", text="y", author_id="a", story_id="s")])
    assert Comment.objects.filter(site_comment_id="ir-dup").count() == 1
