"""Signed webhooks to the site: the outbox written in the decision's transaction, delivery with retries and
signing."""

from moderation.webhooks.delivery import (
    CLAIM_LEASE,
    EVENT_DECIDED,
    MAX_COUNTDOWN_SECONDS,
    SECRET_PREFIX,
    USER_AGENT,
    WebhookURLRefused,
    backoff_seconds,
    deliver,
    event_data,
    generate_secret,
    post,
    resolve_allowed,
    signature,
    signature_header,
    validate_endpoint,
    write_outbox,
)

__all__ = [
    "SECRET_PREFIX",
    "EVENT_DECIDED",
    "CLAIM_LEASE",
    "MAX_COUNTDOWN_SECONDS",
    "USER_AGENT",
    "WebhookURLRefused",
    "generate_secret",
    "signature",
    "signature_header",
    "resolve_allowed",
    "validate_endpoint",
    "event_data",
    "write_outbox",
    "post",
    "backoff_seconds",
    "deliver",
]
