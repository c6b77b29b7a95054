"""Settings for the test suite: moderation.config.settings with per-run isolation.

Each run gets its own var/ directory (SQLite test database file, secret key), its own queue name and its own
Redis key prefix, so parallel runs and a developer's running stack never collide. Set DATABASE_URL to run the
suite on PostgreSQL (the test database is test_<name>)."""

import atexit
import os
import shutil
import tempfile
import uuid

_run = uuid.uuid4().hex[:8]
if "MODERATION_VAR_DIR" not in os.environ:
    # Created, and removed at exit, by the process that runs the suite; the worker and stack processes it
    # starts inherit the variable and leave the directory alone.
    os.environ["MODERATION_VAR_DIR"] = tempfile.mkdtemp(prefix=f"moderation-tests-{_run}-")
    atexit.register(shutil.rmtree, os.environ["MODERATION_VAR_DIR"], True)
os.environ.setdefault("MODERATION_ENV", "test")
os.environ.setdefault("MODERATION_QUEUE", f"moderation-test-{_run}")
os.environ.setdefault("MODERATION_REDIS_KEY_PREFIX", f"moderation-test-{_run}:")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from moderation.config.settings import *  # noqa: E402,F403
from moderation.config.settings import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so worker processes started by the tests open the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never outside tests
