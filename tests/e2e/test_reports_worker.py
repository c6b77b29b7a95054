"""Issue 21 on real parts: a site's Celery app sends ``moderation.report_comment`` by name to the main queue;
a real worker records the reports and, at the site's threshold, sends the approved comment back to review."""

from __future__ import annotations

import pytest

from moderation.models import Comment, CommentStatus, Report
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_reports_sent_as_celery_tasks_reach_the_threshold(start_worker, make_comment, site):
    from django.conf import settings

    from moderation.config.celery import app

    site.report_threshold = 2
    site.save()
    comment = make_comment()
    Comment.objects.filter(pk=comment.pk).update(status=CommentStatus.APPROVED, decided_by="model")
    start_worker()
    for reporter in ("r1", "r1", "r2"):  # the same reader twice counts once
        app.send_task(
            "moderation.report_comment",
            kwargs={
                "site": site.slug,
                "site_comment_id": comment.site_comment_id,
                "reporter_id": reporter,
                "reason": "abusive",
            },
            queue=settings.MODERATION_QUEUE,
        )
    wait_for(
        lambda: Comment.objects.get(pk=comment.pk).status == CommentStatus.NEEDS_REVIEW,
        timeout=60,
        message="the comment back in review",
    )
    assert sorted(Report.objects.values_list("reporter_id", flat=True)) == ["r1", "r2"]
