"""An adapter for Coral Talk's external moderation phase: Coral asks us about each new or edited comment and
we answer with the moderation action our policy gives.

Shapes follow Coral's source (github.com/coralproject/talk,
``server/src/core/server/services/comments/pipeline/phases/external.ts``, ``services/fetch/fetch.ts``,
``models/settings/signingSecret/helpers.ts``):

- Request: ``POST`` with ``Content-Type: application/json``, body ``JSON.stringify(request, null, 2)`` of
  ``{"action": "NEW"|"EDIT", "comment": {"body", "parentID"}, "author": {"id", "role"}, "story": {"id",
  "url"}, "site": {"id"}, "tenantID", "tenantDomain"}``.
- Signature: header ``X-Coral-Signature: sha256=<hex>[,sha256=<hex>...]``, one HMAC-SHA256 of the raw body per
  active signing secret (the secret string as the key, as Coral generates it: ``<prefix>_<hex>``). There is no
  timestamp in the scheme, so a captured request can be replayed; serve this endpoint over HTTPS only.
- Response: ``{"actions": [{"actionType": "FLAG", "reason":
  "COMMENT_DETECTED_TOXIC"|"COMMENT_DETECTED_SPAM"}], "status": "APPROVED"|"REJECTED"|"PREMOD"|..., "tags":
  [...]}``; Coral validates it (unknown keys stripped) and ignores any non-2xx answer or one that arrives
  after the phase's timeout (set per phase in Coral's admin).

Our verdict (``moderation.scoring.verdicts`` at the site's thresholds) maps to: approved → ``APPROVED``;
rejected → ``REJECTED`` with a FLAG naming spam or toxic; needs_review → ``PREMOD`` (Coral's pre-moderation
queue) with a FLAG when a score sent it there, or a telephone number (spam). A comment the language gate
says our model cannot judge goes to ``PREMOD`` without a flag. Scoring is synchronous, in this process
(``moderation.scoring.current_model()``).

Configuration: ``MODERATION_CORAL_SIGNING_SECRET`` (the phase's signing secret from Coral's admin; several,
separated by white space, during a rotation) and the phase URL
``https://HOST/coral/v1/moderation?key=SITE_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from moderation.api.auth import OVER_LIMIT, check_key
from moderation.models import Site
from moderation.policy import APPROVED, NEEDS_REVIEW, REJECTED
from moderation.scoring import ModelUnavailable, Verdict, verdicts

SIGNATURE_HEADER = "X-Coral-Signature"
FLAG = "FLAG"
REASON_TOXIC = "COMMENT_DETECTED_TOXIC"
REASON_SPAM = "COMMENT_DETECTED_SPAM"
STATUS_FOR_OUTCOME = {APPROVED: "APPROVED", REJECTED: "REJECTED", NEEDS_REVIEW: "PREMOD"}


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": status, "message": message}}, status=status)


def secrets() -> list[str]:
    """The configured signing secrets (``MODERATION_CORAL_SIGNING_SECRET``, white-space separated)."""
    return str(getattr(settings, "MODERATION_CORAL_SIGNING_SECRET", "") or "").split()


def sign(secret: str, body: bytes) -> str:
    """Coral's signature of ``body`` with one secret: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(header: str, body: bytes, secret_list: list[str]) -> bool:
    """True if any ``sha256=<hex>`` in ``header`` is the HMAC of ``body`` under any secret (constant-time
    comparisons, every pair compared)."""
    sent = [part.strip() for part in header.split(",") if part.strip()]
    ok = False
    for secret in secret_list:
        expected = sign(secret, body)
        for candidate in sent:
            ok |= hmac.compare_digest(candidate.encode("utf-8", "replace"), expected.encode("ascii"))
    return ok


def _flag_reason(verdict: Verdict) -> str | None:
    """SPAM when only a spam score drove the outcome (for a rejection, the labels at their reject threshold;
    for review, those at their review threshold), TOXIC when another label did; with no score, SPAM when the
    verdict's telephone-number hold did (code ``spam``, ``scoring.contact_number``), else None."""
    driving = "reject" if verdict.outcome == REJECTED else "review"
    labels = {label for label, band in verdict.bands.items() if band == driving}
    if not labels:
        return REASON_SPAM if "spam" in verdict.codes else None
    return REASON_SPAM if labels == {"spam"} else REASON_TOXIC


def moderate(site: Site, request_body: dict[str, Any]) -> dict[str, Any]:
    """Coral's ExternalModerationResponse for one ExternalModerationRequest (decoded). Raises ValueError for a
    body without ``comment.body`` and ModelUnavailable when no model can score."""
    comment = request_body.get("comment")
    text = comment.get("body") if isinstance(comment, dict) else None
    if not isinstance(text, str):
        raise ValueError("comment.body: send the comment's text as a string")
    if not text.strip():
        return {"status": "PREMOD"}
    (verdict,) = verdicts(site, [text])
    if not verdict.language_supported:
        return {"status": "PREMOD"}
    response: dict[str, Any] = {"status": STATUS_FOR_OUTCOME[verdict.outcome]}
    reason = _flag_reason(verdict) if verdict.outcome != APPROVED else None
    if reason:
        response["actions"] = [{"actionType": FLAG, "reason": reason}]
    return response


@csrf_exempt
def moderation(request: HttpRequest) -> HttpResponse:
    """``POST /coral/v1/moderation?key=SITE_KEY``: 401 for a missing or wrong signature, 403 for a bad key,
    429 over the key's quota, 400 for a body that is not Coral's request, 503 when unconfigured or no
    model."""
    if request.method != "POST":
        response = _error(405, "Use POST.")
        response["Allow"] = "POST"
        return response
    secret_list = secrets()
    if not secret_list:
        return _error(503, "Coral adapter not configured: set MODERATION_CORAL_SIGNING_SECRET")
    body = request.body
    if not signature_valid(request.headers.get(SIGNATURE_HEADER, ""), body, secret_list):
        return _error(401, f"{SIGNATURE_HEADER}: missing or not a valid signature of the body")
    checked = check_key(request.GET.get("key"))
    if checked.refusal == OVER_LIMIT:
        response = _error(429, f"this API key sent more than {checked.limit} requests this minute")
        response["Retry-After"] = str(checked.retry_after)
        return response
    if checked.site is None:
        return _error(403, "key: the API key (query parameter) is not valid")
    site = checked.site
    try:
        data = json.loads(body.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return JsonResponse(moderate(site, data))
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"not a Coral moderation request: {exc}")
    except ModelUnavailable as exc:
        return _error(503, f"the scoring model is unavailable: {exc}")
