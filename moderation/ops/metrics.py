"""``/metrics``: the Prometheus exposition, produced with ``prometheus_client``.

``ModerationCollector`` reads its figures at scrape time, from the database (totals of stored rows, so the
counters are monotonic, the same whichever web process answers, and survive restarts) and from the broker
(queue depths in Redis). It is registered in this module's own ``CollectorRegistry``, not the library's
process-global one, so nothing else a library registers there ends up on this page. The page is rendered
by ``generate_latest`` (the Prometheus text format, 0.0.4), or in OpenMetrics when the scraper asks for it
in ``Accept``. Who may read it: ``ops.access``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from moderation.models import AuditEntry, Comment, Decision, ModelVersion, SiteAdapterVersion, WebhookDelivery
from moderation.ops.access import authorised
from moderation.queue import producer, queue_names, redis_from_broker_url, submission_backlog
from moderation.scoring import ModelUnavailable, current_model
from training.runtime import LABELS

log = logging.getLogger(__name__)

# Submission to automatic decision, in seconds.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def broker_figures() -> tuple[dict[str, int], int, tuple[int, int]] | None:
    """({queue: messages waiting}, messages reserved by workers and not yet acknowledged, (submissions in
    flight in the submission readers, submissions in the dead list)), or None if the broker cannot be
    reached."""
    try:
        with producer().connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
            channel = conn.default_channel
            # kombu's Redis channel counts every priority sub-list of a queue, with the global key prefix
            # applied.
            depths = {name: int(channel._size(name)) for name in queue_names()}
            unacked = int(channel.client.hlen(channel.unacked_key))
        client = redis_from_broker_url(settings.CELERY_BROKER_URL)
        try:
            backlog = submission_backlog(client)
        finally:
            client.close()
        return depths, unacked, backlog
    except Exception as exc:  # the metrics page still answers; moderation_broker_up says the broker is down
        log.warning("metrics: broker not readable: %s", exc)
        return None


def active_model() -> tuple[str, str] | None:
    """(version, source): the registry's active version if one is active, else this process's model, or
    None if neither is there."""
    version = ModelVersion.objects.filter(is_active=True).values_list("version", flat=True).first()
    if version:
        return version, "registry"
    try:
        return current_model().version, "process"
    except ModelUnavailable:
        return None


class ModerationCollector(Collector):
    """Every figure of ``/metrics``, read afresh at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from self.comments()
        yield from self.decisions()
        yield self.latency()
        yield from self.broker()
        yield from self.model()
        yield self.adapters()
        yield self.webhooks()

    def comments(self) -> Iterator[Metric]:
        submitted = CounterMetricFamily(
            "moderation_comments_submitted_total", "Comments accepted, by site.", labels=["site"]
        )
        for slug, n in Comment.objects.values_list("site__slug").annotate(n=Count("id")).order_by():
            submitted.add_metric([str(slug)], n)
        yield submitted

        yield CounterMetricFamily(
            "moderation_comments_failed_total",
            "Comments marked failed after MODERATION_MAX_ATTEMPTS scoring errors.",
            value=AuditEntry.objects.filter(action="failed").count(),
        )

        by_status = GaugeMetricFamily(
            "moderation_comments", "Comments now in each status.", labels=["status"]
        )
        for status, n in Comment.objects.values_list("status").annotate(n=Count("id")).order_by():
            by_status.add_metric([str(status)], n)
        yield by_status

    def decisions(self) -> Iterator[Metric]:
        decided = CounterMetricFamily(
            "moderation_decisions_total",
            "Decisions, by kind (auto = the model, moderator) and outcome.",
            labels=["kind", "outcome"],
        )
        rows = Decision.objects.values_list("kind", "outcome").annotate(n=Count("id")).order_by()
        for kind, outcome, n in rows:
            decided.add_metric([str(kind), str(outcome)], n)
        yield decided

        # A label "decided" a comment when it reached one of its thresholds in the automatic decision
        # (Decision.label_bands), as the dashboard's label filter reads it.
        by_label = CounterMetricFamily(
            "moderation_decisions_by_label_total",
            "Automatic decisions whose reasons cite a label, by label and outcome.",
            labels=["label", "outcome"],
        )
        automatic = Decision.objects.filter(kind="auto")
        for label in LABELS:
            rows = (
                automatic.filter(label_bands__has_key=label)
                .values_list("outcome")
                .annotate(n=Count("id"))
                .order_by()
            )
            for outcome, n in rows:
                by_label.add_metric([label, str(outcome)], n)
        yield by_label

    def latency(self) -> Metric:
        latency = ExpressionWrapper(
            F("created_at") - F("comment__submitted_at"), output_field=DurationField()
        )
        buckets = {
            f"le_{i}": Count("id", filter=Q(latency__lte=timedelta(seconds=b)))
            for i, b in enumerate(LATENCY_BUCKETS)
        }
        figures = (
            Decision.objects.filter(kind="auto")
            .annotate(latency=latency)
            .aggregate(count=Count("id"), total=Sum("latency"), **buckets)
        )
        total = figures["total"]
        # A duration sum comes back as a timedelta, or as microseconds on backends without an interval type.
        total_seconds = total.total_seconds() if isinstance(total, timedelta) else float(total or 0) / 1e6
        return HistogramMetricFamily(
            "moderation_decision_latency_seconds",
            "Seconds from a comment's submission to its automatic decision.",
            buckets=[(str(b), figures[f"le_{i}"]) for i, b in enumerate(LATENCY_BUCKETS)]
            + [("+Inf", figures["count"])],
            sum_value=round(max(total_seconds, 0.0), 6),
        )

    def broker(self) -> Iterator[Metric]:
        figures = broker_figures()
        yield GaugeMetricFamily(
            "moderation_broker_up", "1 if the broker answered this scrape.", value=int(figures is not None)
        )
        if figures is None:
            return
        depths, unacked, (inflight, dead) = figures
        depth = GaugeMetricFamily(
            "moderation_queue_depth", "Messages waiting in each worker queue (Redis).", labels=["queue"]
        )
        for queue, n in depths.items():
            depth.add_metric([queue], n)
        yield depth
        yield GaugeMetricFamily(
            "moderation_queue_unacked", "Messages reserved by workers, not yet acknowledged.", value=unacked
        )
        yield GaugeMetricFamily(
            "moderation_submissions_inflight",
            "Submissions taken from the submission queue by a worker's reader and not yet written.",
            value=inflight,
        )
        yield GaugeMetricFamily(
            "moderation_submissions_dead",
            "Messages on the submission queue that were not readable submissions, kept with the reason.",
            value=dead,
        )

    def model(self) -> Iterator[Metric]:
        model = active_model()
        info = GaugeMetricFamily(
            "moderation_model_info",
            "The active model version (1), and where it was read.",
            labels=["version", "source"],
        )
        if model is not None:
            info.add_metric(list(model), 1)
        yield info
        yield GaugeMetricFamily(
            "moderation_model_loaded", "1 if a verified model is active.", value=int(model is not None)
        )

    def adapters(self) -> Metric:
        """One series per site's active adapter; ``serves="false"``: it was fitted on another model than the
        registry's active one, so the workers do not serve it and the site gets the shared scores (alert on
        it after a promote or rollback)."""
        info = GaugeMetricFamily(
            "moderation_site_adapter_info",
            "Active site adapters; serves=false: fitted on another model than the active one (not served).",
            labels=["site", "version", "serves"],
        )
        active_sha = ModelVersion.objects.filter(is_active=True).values_list("sha256", flat=True).first()
        rows = SiteAdapterVersion.objects.filter(is_active=True).values_list(
            "site__slug", "version", "base_model_sha256"
        )
        for site, version, base in rows:
            serves = active_sha is None or base == active_sha
            info.add_metric([site, version, "true" if serves else "false"], 1)
        return info

    def webhooks(self) -> Metric:
        deliveries = GaugeMetricFamily(
            "moderation_webhook_deliveries",
            "Webhook outbox rows by status (pending = the backlog).",
            labels=["status"],
        )
        for status, n in WebhookDelivery.objects.values_list("status").annotate(n=Count("id")).order_by():
            deliveries.add_metric([str(status)], n)
        return deliveries


REGISTRY = CollectorRegistry()
REGISTRY.register(ModerationCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the exposition (403 with what to send when the client may not read it)."""
    if not authorised(request):
        message = (
            "send Authorization: Bearer <MODERATION_METRICS_TOKEN>"
            if settings.MODERATION_METRICS_TOKEN
            else "metrics are served to loopback clients only; set MODERATION_METRICS_TOKEN to scrape "
            "from elsewhere"
        )
        return HttpResponse(message + "\n", status=403, content_type="text/plain; charset=utf-8")
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(REGISTRY), content_type=content_type)
