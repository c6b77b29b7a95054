"""Operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (database, broker and model usable)
and ``/metrics`` (Prometheus text format).

The counters are computed from the database at scrape time (totals of stored rows, so they are monotonic
and the same whichever web process answers, and survive restarts); the queue depth is read from Redis. No
client library: the text format is a few lines.

Access to ``/metrics`` (and the details of ``/readyz``): with ``MODERATION_METRICS_TOKEN`` set, a request
must send ``Authorization: Bearer <token>``; without a token only loopback clients are answered, and a
request that came through a proxy (it carries ``X-Forwarded-For``) does not count as loopback. The three
paths are served by ``OperationsMiddleware`` ahead of Django's host check, so a container health check or
a scraper that reaches the process by an address not in ``DJANGO_ALLOWED_HOSTS`` still gets an answer."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse, JsonResponse

from training.runtime import LABELS

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Submission to automatic decision, in seconds.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


# --- access
# -------------------------------------------------------------------------------------------------------


def authorised(request: HttpRequest) -> bool:
    """True if the request may read metrics: the bearer token when one is configured, else a loopback client
    that did not come through a proxy."""
    token = settings.MODERATION_METRICS_TOKEN
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())
    if "X-Forwarded-For" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


# --- health and readiness
# -------------------------------------------------------------------------------------


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up (no dependency is checked: a broker outage must not get the web containers
    restarted)."""
    return JsonResponse({"status": "ok"})


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def check_broker() -> str:
    from moderation.queue import producer

    with producer().connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
        conn.default_channel.client.ping()
    return "ok"


def check_model() -> str:
    from moderation.scoring import current_model

    model = current_model()
    return f"ok ({model.version}, {model.stages})"


READINESS_CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "model": check_model,
}


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and the model are usable, else 503 naming the checks that failed
    (``{"status": "unavailable", "failed": ["broker"], ...}``). The error of each check is shown only to
    clients allowed to read metrics (it can name hosts)."""
    checks: dict[str, str] = {}
    failed: list[str] = []
    for name, check in READINESS_CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # any failure of a dependency means "not ready"; the name says which
            failed.append(name)
            checks[name] = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("readiness check %s failed: %s", name, checks[name])
    body: dict = {"status": "unavailable" if failed else "ready", "failed": failed}
    if authorised(request):
        body["checks"] = checks
    return JsonResponse(body, status=503 if failed else 200)


# --- metrics
# --------------------------------------------------------------------------------------------------


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    """Prometheus text format, one metric family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict, float]], suffix: str = ""
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        self.samples(name + suffix, samples)

    def samples(self, name: str, samples: Iterable[tuple[dict, float]]) -> None:
        for labels, value in samples:
            text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return (
        repr(float(value)) if isinstance(value, float) and not float(value).is_integer() else str(int(value))
    )


def queue_names() -> list[str]:
    """Every queue the workers consume: the main queue and any queue a route names."""
    names = {settings.MODERATION_QUEUE}
    for route in getattr(settings, "CELERY_TASK_ROUTES", {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


def broker_figures() -> tuple[dict[str, int], int, tuple[int, int]] | None:
    """({queue: messages waiting}, messages reserved by workers and not yet acknowledged, (submissions in flight
    in the submission readers, submissions in the dead list)), or None if the broker cannot be reached."""
    from moderation.queue import producer, redis_from_broker_url, submission_backlog

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


def _active_model() -> tuple[str, str] | None:
    """(version, source): the registry's active version if there is a registry, else this process's model."""
    try:
        from moderation.models import ModelVersion

        version = ModelVersion.objects.filter(is_active=True).values_list("version", flat=True).first()
        if version:
            return version, "registry"
    except ImportError:
        pass
    from moderation.scoring import ModelUnavailable, current_model

    try:
        return current_model().version, "process"
    except ModelUnavailable:
        return None


def render_metrics() -> str:
    from moderation.models import AuditEntry, Comment, Decision

    out = Exposition()
    submitted = Comment.objects.values_list("site__slug").annotate(n=Count("id")).order_by()
    out.family(
        "moderation_comments_submitted_total",
        "counter",
        "Comments accepted, by site.",
        (({"site": slug}, n) for slug, n in submitted),
    )

    decided = Decision.objects.values_list("kind", "outcome").annotate(n=Count("id")).order_by()
    out.family(
        "moderation_decisions_total",
        "counter",
        "Decisions, by kind (auto = the model, moderator) and outcome.",
        (({"kind": kind, "outcome": outcome}, n) for kind, outcome, n in decided),
    )

    # A label "decided" a comment when one of the automatic decision's reasons is that label with its
    # score ("toxicity 0.93 ≥ reject threshold 0.90"), as the dashboard's label filter reads it.
    automatic = Decision.objects.filter(kind="auto").annotate(reasons_text=Cast("reasons", TextField()))
    by_label = []
    for label in LABELS:
        rows = (
            automatic.filter(
                Q(reasons_text__contains=f'"{label} 0.') | Q(reasons_text__contains=f'"{label} 1.')
            )
            .values_list("outcome")
            .annotate(n=Count("id"))
            .order_by()
        )
        by_label += [({"label": label, "outcome": outcome}, n) for outcome, n in rows]
    out.family(
        "moderation_decisions_by_label_total",
        "counter",
        "Automatic decisions whose reasons cite a label, by label and outcome.",
        by_label,
    )

    latency = ExpressionWrapper(F("created_at") - F("comment__submitted_at"), output_field=DurationField())
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
    total_seconds = total.total_seconds() if isinstance(total, timedelta) else float(total or 0) / 1e6
    name = "moderation_decision_latency_seconds"
    out.lines += [
        f"# HELP {name} Seconds from a comment's submission to its automatic decision.",
        f"# TYPE {name} histogram",
    ]
    out.samples(
        name + "_bucket",
        [({"le": str(b)}, figures[f"le_{i}"]) for i, b in enumerate(LATENCY_BUCKETS)]
        + [({"le": "+Inf"}, figures["count"])],
    )
    out.samples(name + "_sum", [({}, round(max(total_seconds, 0.0), 6))])
    out.samples(name + "_count", [({}, figures["count"])])

    failed = AuditEntry.objects.filter(action="failed").count()
    out.family(
        "moderation_comments_failed_total",
        "counter",
        "Comments marked failed after MODERATION_MAX_ATTEMPTS scoring errors.",
        [({}, failed)],
    )

    by_status = Comment.objects.values_list("status").annotate(n=Count("id")).order_by()
    out.family(
        "moderation_comments",
        "gauge",
        "Comments now in each status.",
        (({"status": status}, n) for status, n in by_status),
    )

    broker = broker_figures()
    out.family(
        "moderation_broker_up",
        "gauge",
        "1 if the broker answered this scrape.",
        [({}, int(broker is not None))],
    )
    if broker is not None:
        depths, unacked, (inflight, dead) = broker
        out.family(
            "moderation_queue_depth",
            "gauge",
            "Messages waiting in each worker queue (Redis).",
            (({"queue": q}, n) for q, n in depths.items()),
        )
        out.family(
            "moderation_queue_unacked",
            "gauge",
            "Messages reserved by workers, not yet acknowledged.",
            [({}, unacked)],
        )
        out.family(
            "moderation_submissions_inflight",
            "gauge",
            "Submissions taken from the submission queue by a worker's reader and not yet written.",
            [({}, inflight)],
        )
        out.family(
            "moderation_submissions_dead",
            "gauge",
            "Messages on the submission queue that were not readable submissions, kept with the reason.",
            [({}, dead)],
        )

    model = _active_model()
    out.family(
        "moderation_model_info",
        "gauge",
        "The active model version (1), and where it was read.",
        [({"version": model[0], "source": model[1]}, 1)] if model else [],
    )
    out.family(
        "moderation_model_loaded", "gauge", "1 if a verified model is active.", [({}, int(model is not None))]
    )

    try:
        from moderation.models import WebhookDelivery
    except ImportError:  # no webhook outbox in this installation
        WebhookDelivery = None
    if WebhookDelivery is not None:
        rows = WebhookDelivery.objects.values_list("status").annotate(n=Count("id")).order_by()
        out.family(
            "moderation_webhook_deliveries",
            "gauge",
            "Webhook outbox rows by status (pending = the backlog).",
            (({"status": status}, n) for status, n in rows),
        )
    return out.text()


def metrics(request: HttpRequest) -> HttpResponse:
    if not authorised(request):
        message = (
            "send Authorization: Bearer <MODERATION_METRICS_TOKEN>"
            if settings.MODERATION_METRICS_TOKEN
            else "metrics are served to loopback clients only; set MODERATION_METRICS_TOKEN to scrape "
            "from elsewhere"
        )
        return HttpResponse(message + "\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE)


# --- middleware
# -----------------------------------------------------------------------------------------------

VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics,
}


class OperationsMiddleware:
    """Answers GET /healthz, /readyz and /metrics before the host check and the session machinery: probes and
    scrapers reach a process by container name or IP address, which DJANGO_ALLOWED_HOSTS need not list."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = VIEWS.get(request.path_info)
        if view is not None and request.method in ("GET", "HEAD"):
            return view(request)
        return self.get_response(request)
