"""Signed webhooks to the site: the outbox written in the decision's transaction, delivery with retries and
signing. An endpoint's URL and secrets are checked by ``moderation.validation.validate_endpoint``."""

from moderation.webhooks.delivery import (
    CLAIM_LEASE,
    EVENT_DECIDED,
    MAX_COUNTDOWN_SECONDS,
    USER_AGENT,
    backoff_seconds,
    deliver,
    event_data,
    generate_secret,
    post,
    signature,
    signature_header,
    write_outbox,
)

__all__ = [
    "EVENT_DECIDED",
    "CLAIM_LEASE",
    "MAX_COUNTDOWN_SECONDS",
    "USER_AGENT",
    "generate_secret",
    "signature",
    "signature_header",
    "event_data",
    "write_outbox",
    "post",
    "backoff_seconds",
    "deliver",
]
