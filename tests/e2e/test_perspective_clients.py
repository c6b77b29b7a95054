"""The published Perspective clients, unmodified, against our server over real HTTP (``live_server``).

- PyPI ``perspectiveapi`` (1.1.0): it has no endpoint constant (the URL is a literal inside ``score``), so the
  test gives its module an httpx ``Client`` whose transport sends commentanalyzer.googleapis.com requests to
  our server.
- npm ``perspective-api-client`` (3.1.0, in tests/perspective_clients with its lock file): ``run.js`` adds an
  axios request interceptor that sends the client's request to our server and runs the client with ``node``.
  The test runs ``npm ci`` there if node_modules is missing; it skips only when ``node`` or ``npm`` is not
  installed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.urls("tests.moderation.api.perspective_test_urls")

HARNESS = Path(__file__).resolve().parent.parent / "perspective_clients"
INSULT = "What kind of idiot name is foo?"


@pytest.fixture
def server(live_server, transactional_db):
    """(base URL, a valid site API key) of a live server with the Perspective routes."""
    from moderation.services import create_api_key, get_or_create_site

    _, key = create_api_key(get_or_create_site("perspective-e2e"))
    return live_server.url, key


# --- PyPI: perspectiveapi -----------------------------------------------------------------------------------


class Redirect:
    """httpx transport sending commentanalyzer.googleapis.com requests to ``target``, recording answers."""

    def __init__(self, target: str, asynchronous: bool = False):
        parts = urlsplit(target)
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.inner = httpx.AsyncHTTPTransport() if asynchronous else httpx.HTTPTransport()
        self.seen: list[tuple[int, dict]] = []

    def _rewrite(self, request: httpx.Request) -> None:
        assert request.url.host == "commentanalyzer.googleapis.com", request.url
        request.url = request.url.copy_with(scheme=self.scheme, host=self.host, port=self.port)
        request.headers["Host"] = f"{self.host}:{self.port}"


class SyncRedirect(Redirect, httpx.BaseTransport):
    def handle_request(self, request):
        self._rewrite(request)
        response = self.inner.handle_request(request)
        response.read()
        self.seen.append((response.status_code, json.loads(response.content)))
        return response


class AsyncRedirect(Redirect, httpx.AsyncBaseTransport):
    async def handle_async_request(self, request):
        self._rewrite(request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.seen.append((response.status_code, json.loads(response.content)))
        return response


@pytest.fixture
def pypi_client(server, monkeypatch):
    """perspective.blocking.Perspective and perspective.Perspective (async), redirected to our server."""
    import perspective
    import perspective.blocking
    import perspective.models

    url, key = server
    sync_transport, async_transport = SyncRedirect(url), AsyncRedirect(url, asynchronous=True)
    monkeypatch.setattr(perspective.blocking, "Client", lambda: httpx.Client(transport=sync_transport))
    monkeypatch.setattr(
        perspective.models, "AsyncClient", lambda: httpx.AsyncClient(transport=async_transport)
    )
    return perspective, key, sync_transport, async_transport


def test_pypi_client_scores(pypi_client):
    perspective, key, transport, _ = pypi_client
    from perspective import Attribute
    from perspective.blocking import Perspective

    client = Perspective(key)
    score = client.score(INSULT)
    assert isinstance(score.toxicity, float) and score.toxicity > 0.5
    assert score.insult is None  # not requested
    status, body = transport.seen[-1]
    assert status == 200 and body["languages"] == ["en"]

    score = client.score(
        "Great reporting, thanks.",
        [Attribute.TOXICITY, Attribute.SEVERE_TOXICITY, Attribute.INSULT, Attribute.THREAT],
    )
    for name in ("toxicity", "severe_toxicity", "insult", "threat"):
        value = getattr(score, name)
        assert isinstance(value, float) and 0.0 <= value <= 1.0
    assert score.toxicity < 0.5


def test_pypi_async_client_scores(pypi_client):
    perspective, key, _, transport = pypi_client
    score = asyncio.run(perspective.Perspective(key).score(INSULT))
    assert isinstance(score.toxicity, float) and score.toxicity > 0.5
    assert transport.seen[-1][0] == 200


def test_pypi_client_errors(pypi_client):
    """The client reads ``attributeScores`` without looking at the status, so every error reaches its caller
    as KeyError('attributeScores') — as it does against Google. The answers behind it are Google-shaped."""
    perspective, key, transport, _ = pypi_client
    from perspective import Attribute
    from perspective.blocking import Perspective

    with pytest.raises(KeyError, match="attributeScores"):
        Perspective("not-a-key").score(INSULT)
    status, body = transport.seen[-1]
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED" and body["error"]["code"] == 403

    with pytest.raises(KeyError, match="attributeScores"):
        Perspective(key).score(INSULT, [Attribute.TOXICITY, Attribute.SEXUALLY_EXPLICIT])
    status, body = transport.seen[-1]
    assert status == 400 and body["error"]["message"] == "Unknown requested attribute: SEXUALLY_EXPLICIT"

    with pytest.raises(KeyError, match="attributeScores"):
        Perspective(key).score("")
    status, body = transport.seen[-1]
    assert status == 400 and body["error"]["details"][0]["errorType"] == "COMMENT_EMPTY"


# --- npm: perspective-api-client ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_harness():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed to run the npm client perspective-api-client (install Node.js)")
    if not (HARNESS / "node_modules" / "perspective-api-client").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=HARNESS, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"npm ci in {HARNESS} failed:\n{done.stdout}\n{done.stderr}"
    return node


def run_npm_client(node: str, url: str, cases: list[dict]) -> tuple[list[dict], list[str]]:
    done = subprocess.run(
        [node, "run.js"],
        cwd=HARNESS,
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PERSPECTIVE_TARGET": url},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    return out["results"], out["requested"]


def test_npm_client_scores(node_harness, server):
    url, key = server
    cases = [
        {"apiKey": key, "text": INSULT},
        {
            "apiKey": key,
            "text": "Great reporting, thanks.",
            "options": {
                "attributes": [
                    "toxicity",
                    "severe_toxicity",
                    "identity_attack",
                    "insult",
                    "profanity",
                    "threat",
                    "spam",
                ]
            },
        },
        {
            "apiKey": key,
            "text": {
                "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
                "languages": ["en"],
                "spanAnnotations": True,
                "clientToken": "npm-1",
                "sessionId": "s-1",
                "requestedAttributes": {"TOXICITY": {"scoreType": "PROBABILITY", "scoreThreshold": 0}},
            },
        },
        {"apiKey": key, "text": "<p>You are an <b>idiot</b></p>"},  # the client strips HTML before sending
    ]
    (default, every, spans, html), requested = run_npm_client(node_harness, url, cases)
    assert all(r["ok"] for r in (default, every, spans, html)), (default, every, spans, html)
    assert all(u.startswith(url + "/v1alpha1/comments:analyze") for u in requested)

    summary = default["data"]["attributeScores"]["TOXICITY"]["summaryScore"]
    assert summary["type"] == "PROBABILITY" and summary["value"] > 0.5
    assert default["data"]["languages"] == ["en"]

    assert list(every["data"]["attributeScores"]) == [
        "TOXICITY",
        "SEVERE_TOXICITY",
        "IDENTITY_ATTACK",
        "INSULT",
        "PROFANITY",
        "THREAT",
        "SPAM",
    ]

    toxicity = spans["data"]["attributeScores"]["TOXICITY"]
    assert [(s["begin"], s["end"]) for s in toxicity["spanScores"]] == [(0, 31), (32, 56)]
    assert spans["data"]["clientToken"] == "npm-1" and spans["data"]["languages"] == ["en"]

    assert html["data"]["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5


def test_npm_client_errors(node_harness, server):
    url, key = server
    cases = [
        {"apiKey": "not-a-key", "text": INSULT},
        {"apiKey": key, "text": INSULT, "options": {"attributes": ["flirtation"]}},
        {"apiKey": key, "text": {"comment": {"text": "Bonjour à tous"}, "languages": ["fr"]}},
        {"apiKey": key, "text": "   ", "options": {"validate": False}},
        {"apiKey": key, "text": ""},
    ]
    bad_key, unknown, french, blank, empty = run_npm_client(node_harness, url, cases)[0]

    assert bad_key["name"] == "ResponseError" and bad_key["status"] == 403
    assert bad_key["message"] == "API key not valid. Please pass a valid API key."
    assert bad_key["data"]["error"]["status"] == "PERMISSION_DENIED"

    assert unknown["name"] == "ResponseError" and unknown["status"] == 400
    assert unknown["message"] == "Unknown requested attribute: FLIRTATION"

    assert french["name"] == "ResponseError" and french["status"] == 400
    assert french["message"] == "Attribute TOXICITY does not support request languages: fr"
    assert french["data"]["error"]["details"][0]["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"

    assert blank["name"] == "ResponseError" and blank["message"] == "Comment must be non-empty."

    assert empty["name"] == "TextEmptyError"  # refused by the client itself before any answer
