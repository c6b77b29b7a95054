"""The Perspective-compatible API (moderation/api/perspective.py) through Django's test client: every request
field, the attribute mapping, every error, and the request/response examples of Perspective's docs replayed.

The doc examples are quoted from github.com/conversationai/perspectiveapi (2-api/methods.md, 2-api/limits.md,
1-get-started/sample.md); the expected values are field names and JSON types, not Perspective's numbers."""

from __future__ import annotations

import json

import pytest

from moderation.api.perspective import ATTRIBUTE_LABELS, detect_language, sentence_spans
from moderation.models import SuggestedScore
from moderation.scoring import current_model

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.moderation.api.perspective_test_urls")]

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
ERROR_TYPE_URL = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"


def post(client, path, body, key, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    url = f"{path}?key={key}" if key is not None else path
    return client.post(url, data, content_type=content_type)


def analyze(client, key, **fields):
    request = {
        "comment": {"text": "What kind of idiot name is foo?"},
        "requestedAttributes": {"TOXICITY": {}},
    }
    request.update(fields)
    return post(client, ANALYZE, request, key)


def assert_google_error(response, code, status, error_type=None, message=None):
    assert response.status_code == code, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    if message is not None:
        assert error["message"] == message
    if error_type is not None:
        assert error["details"][0]["@type"] == ERROR_TYPE_URL
        assert error["details"][0]["errorType"] == error_type
    return error


def assert_probability(score):
    assert set(score) == {"value", "type"}
    assert type(score["value"]) is float and 0.0 <= score["value"] <= 1.0
    assert score["type"] == "PROBABILITY"


# --- The docs' examples, replayed ---------------------------------------------------------------------------


def test_methods_md_analyze_example(client, api_key):
    """methods.md "AnalyzeComment example", minus UNSUBSTANTIAL (not modelled; see the error test below)."""
    request = {
        "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
        "languages": ["en"],
        "requestedAttributes": {"TOXICITY": {}},
    }
    response = post(client, ANALYZE, request, api_key)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"attributeScores", "languages"}
    assert set(body["attributeScores"]) == {"TOXICITY"}
    assert set(body["attributeScores"]["TOXICITY"]) == {"summaryScore"}
    assert_probability(body["attributeScores"]["TOXICITY"]["summaryScore"])
    assert body["languages"] == ["en"]


def test_methods_md_analyze_example_with_unsubstantial_names_the_attribute(client, api_key):
    request = {
        "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
        "languages": ["en"],
        "requestedAttributes": {"TOXICITY": {}, "UNSUBSTANTIAL": {}},
    }
    assert_google_error(
        post(client, ANALYZE, request, api_key),
        400,
        "INVALID_ARGUMENT",
        message="Unknown requested attribute: UNSUBSTANTIAL",
    )


def test_methods_md_span_example_offsets(client, api_key):
    """Example spans: [0,31) "What kind of idiot name is foo?" and [32,56) "Sorry, I like your name."."""
    text = "What kind of idiot name is foo? Sorry, I like your name."
    response = analyze(client, api_key, comment={"text": text}, languages=["en"], spanAnnotations=True)
    spans = response.json()["attributeScores"]["TOXICITY"]["spanScores"]
    assert [(s["begin"], s["end"]) for s in spans] == [(0, 31), (32, 56)]
    for span in spans:
        assert (
            set(span) == {"begin", "end", "score"} and type(span["begin"]) is int and type(span["end"]) is int
        )
        assert_probability(span["score"])
    # The insult is in the first sentence; the apology is not.
    assert spans[0]["score"]["value"] > spans[1]["score"]["value"]


def test_sample_md_python_request_without_content_type(client, api_key):
    """sample.md's Python example posts ``json.dumps(data)`` with requests and no Content-Type header."""
    data = {
        "comment": {"text": "what kind of idiot name is foo?"},
        "languages": ["en"],
        "requestedAttributes": {"TOXICITY": {}},
    }
    response = client.generic("POST", f"{ANALYZE}?key={api_key}", json.dumps(data), content_type="")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["attributeScores", "languages"] and body["languages"] == ["en"]
    assert_probability(body["attributeScores"]["TOXICITY"]["summaryScore"])
    assert body["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5


def test_sample_md_curl_request_with_unquoted_keys(client, api_key):
    """sample.md's cURL example sends JavaScript-style unquoted keys, which Google's JSON reader accepts."""
    data = """{comment: {text: "what kind of idiot name is foo?"},
          languages: ["en"],
          requestedAttributes: {TOXICITY:{}} }"""
    response = post(client, ANALYZE, data, api_key)
    assert response.status_code == 200, response.content
    assert_probability(response.json()["attributeScores"]["TOXICITY"]["summaryScore"])


def test_methods_md_suggestscore_example(client, api_key, settings):
    settings.MODERATION_STORE_SUGGESTED_SCORES = True
    # As printed in methods.md, with the trailing comma after the TOXICITY object, which is not strict JSON.
    data = """{
  "comment": {
    "text": "I guess it comes down a simple choice: Get busy living, or get busy dying."
  },
  "attributeScores": {
    "TOXICITY": {
      "summaryScore": {
        "value": 0
      }
    },
  },
  "communityId": "/forum/movies",
  "clientToken": "comment-53922"
}"""
    response = post(client, SUGGEST, data, api_key)
    assert response.status_code == 200, response.content
    assert response.json() == {"clientToken": "comment-53922"}
    row = SuggestedScore.objects.get()
    assert (row.attribute, row.label, row.score, row.community_id, row.client_token) == (
        "TOXICITY",
        "toxicity",
        0.0,
        "/forum/movies",
        "comment-53922",
    )
    assert row.text.startswith("I guess it comes down")


# --- Attribute mapping --------------------------------------------------------------------------------------


def test_every_attribute_maps_to_our_label(client, api_key):
    text = "You are a pathetic idiot and I will find you."
    response = analyze(
        client, api_key, comment={"text": text}, requestedAttributes={name: {} for name in ATTRIBUTE_LABELS}
    )
    assert response.status_code == 200
    scores = response.json()["attributeScores"]
    assert list(scores) == list(ATTRIBUTE_LABELS)  # mirrors the request, in its order
    (ours,) = current_model().score([text])
    for name, label in ATTRIBUTE_LABELS.items():
        assert_probability(scores[name]["summaryScore"])
        assert scores[name]["summaryScore"]["value"] == pytest.approx(ours[label])


def test_mapping_table():
    assert ATTRIBUTE_LABELS == {
        "TOXICITY": "toxicity",
        "SEVERE_TOXICITY": "severe_toxicity",
        "IDENTITY_ATTACK": "identity_attack",
        "INSULT": "insult",
        "PROFANITY": "obscene",
        "THREAT": "threat",
        "SPAM": "spam",
    }
    assert set(ATTRIBUTE_LABELS.values()) == set(current_model().labels)


@pytest.mark.parametrize(
    "name",
    [
        "SEXUALLY_EXPLICIT",
        "FLIRTATION",
        "TOXICITY_EXPERIMENTAL",
        "TOXICITY@6",
        "toxicity",
        "ATTACK_ON_AUTHOR",
    ],
)
def test_attribute_we_do_not_model_is_unknown(client, api_key, name):
    response = analyze(client, api_key, requestedAttributes={"TOXICITY": {}, name: {}})
    assert_google_error(
        response, 400, "INVALID_ARGUMENT", "INVALID_REQUEST", message=f"Unknown requested attribute: {name}"
    )


# --- Request fields -----------------------------------------------------------------------------------------


def test_client_token_is_echoed_and_session_and_community_accepted(client, api_key):
    response = analyze(
        client, api_key, clientToken="tok-1", sessionId="s-9", communityId="/forum/news", doNotStore=True
    )
    assert response.status_code == 200
    assert response.json()["clientToken"] == "tok-1"


def test_no_client_token_no_field(client, api_key):
    assert "clientToken" not in analyze(client, api_key).json()


def test_score_threshold_hides_scores_below_it(client, api_key):
    text = "Great reporting, thanks for the balanced view. Idiot."
    low = analyze(
        client,
        api_key,
        comment={"text": text},
        spanAnnotations=True,
        requestedAttributes={"TOXICITY": {"scoreThreshold": 0}, "SPAM": {"scoreThreshold": 1}},
    )
    body = low.json()
    assert "TOXICITY" in body["attributeScores"] and "SPAM" not in body["attributeScores"]
    value = body["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    middle = sorted(s["score"]["value"] for s in spans)[0] + 1e-9
    filtered = analyze(
        client,
        api_key,
        comment={"text": text},
        spanAnnotations=True,
        requestedAttributes={"TOXICITY": {"scoreThreshold": middle}},
    ).json()["attributeScores"]
    assert all(s["score"]["value"] >= middle for s in filtered["TOXICITY"]["spanScores"])
    assert len(filtered["TOXICITY"]["spanScores"]) == len(spans) - 1
    assert ("summaryScore" in filtered["TOXICITY"]) == (value >= middle)


def test_threshold_equal_to_the_score_returns_it(client, api_key):
    value = analyze(client, api_key).json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    again = analyze(client, api_key, requestedAttributes={"TOXICITY": {"scoreThreshold": value}}).json()
    assert again["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == value


def test_score_type_probability_accepted_others_refused(client, api_key):
    ok = analyze(client, api_key, requestedAttributes={"TOXICITY": {"scoreType": "PROBABILITY"}})
    assert ok.status_code == 200
    bad = analyze(client, api_key, requestedAttributes={"TOXICITY": {"scoreType": "STD_DEV_SCORE"}})
    assert_google_error(
        bad,
        400,
        "INVALID_ARGUMENT",
        message="Requested score type STD_DEV_SCORE is not supported by attribute TOXICITY",
    )


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", True])
def test_bad_score_threshold(client, api_key, threshold):
    response = analyze(client, api_key, requestedAttributes={"TOXICITY": {"scoreThreshold": threshold}})
    error = assert_google_error(response, 400, "INVALID_ARGUMENT")
    assert "scoreThreshold" in error["message"]


def test_span_annotations_off_by_default_and_one_sentence_is_one_span(client, api_key):
    assert "spanScores" not in analyze(client, api_key).json()["attributeScores"]["TOXICITY"]
    text = "  no full stop here  "
    spans = analyze(client, api_key, comment={"text": text}, spanAnnotations=True).json()["attributeScores"][
        "TOXICITY"
    ]["spanScores"]
    assert [(s["begin"], s["end"]) for s in spans] == [(2, 19)]


def test_sentence_spans_are_code_point_offsets():
    text = "Ça va? 😀 Très bien! Merci."
    spans = sentence_spans(text)
    assert [text[b:e] for b, e in spans] == ["Ça va?", "😀 Très bien!", "Merci."]


def test_languages_en_variants_are_mirrored(client, api_key):
    for languages in (["en"], ["en-US"], ["EN"]):
        body = analyze(client, api_key, languages=languages).json()
        assert body["languages"] == languages and "detectedLanguages" not in body


@pytest.mark.parametrize("languages", [["fr"], ["en", "es"], ["de-DE"]])
def test_unsupported_language_is_400_like_perspective(client, api_key, languages):
    response = analyze(
        client, api_key, languages=languages, requestedAttributes={"INSULT": {}, "TOXICITY": {}}
    )
    error = assert_google_error(
        response,
        400,
        "INVALID_ARGUMENT",
        "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        message=f"Attribute INSULT does not support request languages: {', '.join(languages)}",
    )
    assert error["details"][0]["languageNotSupportedByAttributeError"] == {
        "requestedLanguages": languages,
        "attribute": "INSULT",
    }


def test_language_detected_when_not_given(client, api_key):
    body = analyze(client, api_key).json()
    assert body["languages"] == ["en"] and body["detectedLanguages"] == ["en"]


@pytest.mark.parametrize(
    "text,lang",
    [
        ("Je pense que le gouvernement est dans une situation difficile avec les talibans.", "fr"),
        ("Creo que el gobierno de Pakistán tiene razón en ser cauteloso con los talibanes.", "es"),
        ("Это очень плохая статья, автор ничего не знает.", "ru"),
        ("この記事はとても良いです。", "ja"),
    ],
)
def test_detected_foreign_language_is_refused(client, api_key, text, lang):
    response = analyze(client, api_key, comment={"text": text})
    error = assert_google_error(
        response,
        400,
        "INVALID_ARGUMENT",
        "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        message=f"Attribute TOXICITY does not support request languages: {lang}",
    )
    assert error["details"][0]["languageNotSupportedByAttributeError"] == {
        "detectedLanguages": [lang],
        "attribute": "TOXICITY",
    }


@pytest.mark.parametrize(
    "text", ["lol ok", "foo", "You are a pathetic idiot, shut up.", "FREE gift cards!!!"]
)
def test_short_or_english_text_is_english(text):
    assert detect_language(text) == "en"


def test_context_is_accepted_and_ignored(client, api_key):
    plain = analyze(client, api_key).json()
    with_context = analyze(
        client, api_key, context={"entries": [{"text": "the article", "type": "PLAIN_TEXT"}]}
    )
    assert with_context.json()["attributeScores"] == plain["attributeScores"]


def test_comment_type_plain_text_only(client, api_key):
    ok = analyze(client, api_key, comment={"text": "hello there", "type": "PLAIN_TEXT"})
    assert ok.status_code == 200
    html = analyze(client, api_key, comment={"text": "<b>hi</b>", "type": "HTML"})
    assert_google_error(
        html, 400, "INVALID_ARGUMENT", message="Currently, only 'PLAIN_TEXT' comments are supported"
    )
    other = analyze(client, api_key, comment={"text": "hi", "type": "MARKDOWN"})
    assert_google_error(other, 400, "INVALID_ARGUMENT", message="Unknown text type")


def test_unknown_top_level_fields_are_ignored(client, api_key):
    assert analyze(client, api_key, somethingNew={"x": 1}).status_code == 200


def test_analyze_stores_nothing(client, api_key, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.MODERATION_STORE_SUGGESTED_SCORES = True
    with CaptureQueriesContext(connection) as queries:
        assert analyze(client, api_key, doNotStore=False).status_code == 200
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    assert SuggestedScore.objects.count() == 0


# --- Errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\u200b\n", None])
def test_empty_comment_is_400_comment_empty(client, api_key, text):
    comment = {} if text is None else {"text": text}
    assert_google_error(
        analyze(client, api_key, comment=comment),
        400,
        "INVALID_ARGUMENT",
        "COMMENT_EMPTY",
        message="Comment must be non-empty.",
    )


def test_missing_comment_is_comment_empty(client, api_key):
    response = post(client, ANALYZE, {"requestedAttributes": {"TOXICITY": {}}}, api_key)
    assert_google_error(response, 400, "INVALID_ARGUMENT", "COMMENT_EMPTY")


def test_text_over_20_kb_is_too_long(client, api_key):
    ok = analyze(client, api_key, comment={"text": "a" * 20480})
    assert ok.status_code == 200
    too_long = analyze(client, api_key, comment={"text": "é" * 10241})  # 20,482 bytes of UTF-8
    assert_google_error(
        too_long, 400, "INVALID_ARGUMENT", "COMMENT_TOO_LONG", message="Comment text too long."
    )


def test_body_over_the_limit_is_too_long(client, api_key, settings):
    settings.MODERATION_MAX_BODY_BYTES = 1000
    response = analyze(client, api_key, comment={"text": "x" * 2000})
    assert_google_error(response, 400, "INVALID_ARGUMENT", "COMMENT_TOO_LONG")


@pytest.mark.parametrize("attributes", [None, {}])
def test_missing_requested_attributes(client, api_key, attributes):
    request = {"comment": {"text": "hello"}}
    if attributes is not None:
        request["requestedAttributes"] = attributes
    assert_google_error(
        post(client, ANALYZE, request, api_key),
        400,
        "INVALID_ARGUMENT",
        "NO_REQUESTED_ATTRIBUTES",
        message="Missing requested_attributes",
    )


@pytest.mark.parametrize(
    "fields,path",
    [
        ({"comment": {"text": 12}}, "comment.text"),
        ({"comment": "hello"}, "comment"),
        ({"requestedAttributes": ["TOXICITY"]}, "requestedAttributes"),
        ({"requestedAttributes": {"TOXICITY": 1}}, "requestedAttributes[TOXICITY]"),
        ({"languages": "en"}, "languages"),
        ({"doNotStore": "yes"}, "doNotStore"),
        ({"spanAnnotations": 1}, "spanAnnotations"),
        ({"clientToken": 5}, "clientToken"),
        ({"sessionId": {}}, "sessionId"),
        ({"communityId": 7}, "communityId"),
        ({"context": []}, "context"),
    ],
)
def test_wrong_types_name_the_field(client, api_key, fields, path):
    error = assert_google_error(analyze(client, api_key, **fields), 400, "INVALID_ARGUMENT")
    assert f"'{path}'" in error["message"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b"", b'{"a":' * 50 + b"1" + b"}" * 50])
def test_bad_body_is_400_invalid_json(client, api_key, body):
    error = assert_google_error(post(client, ANALYZE, body, api_key), 400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Invalid JSON payload received.")


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_missing_or_bad_key_is_403_permission_denied(client, site, key):
    response = analyze(client, key)
    assert_google_error(response, 403, "PERMISSION_DENIED")
    assert "details" not in response.json()["error"]


def test_revoked_key_is_403(client, site, api_key):
    from django.utils import timezone

    site.api_keys.update(revoked_at=timezone.now())
    assert_google_error(analyze(client, api_key), 403, "PERMISSION_DENIED")


def test_key_in_x_goog_api_key_header(client, api_key):
    body = json.dumps({"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}})
    response = client.post(ANALYZE, body, content_type="application/json", HTTP_X_GOOG_API_KEY=api_key)
    assert response.status_code == 200


def test_key_is_checked_before_the_body(client, site):
    assert_google_error(post(client, ANALYZE, b"not json", "wrong"), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("path", [ANALYZE, SUGGEST])
def test_get_is_405(client, api_key, path):
    response = client.get(f"{path}?key={api_key}")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["error"]["code"] == 405


def test_model_unavailable_is_503(client, api_key, monkeypatch):
    from moderation.api.perspective import answers as scoring_module
    from moderation.scoring import ModelUnavailable

    def unavailable():
        raise ModelUnavailable("model models/x.joblib not loaded: sha256 mismatch")

    monkeypatch.setattr(scoring_module, "current_model", unavailable)
    error = assert_google_error(analyze(client, api_key), 503, "UNAVAILABLE")
    assert "sha256 mismatch" in error["message"]


def test_no_csrf_needed(api_key):
    from django.test import Client

    response = analyze(Client(enforce_csrf_checks=True), api_key)
    assert response.status_code == 200


# --- SuggestCommentScore ------------------------------------------------------------------------------------


def suggest(client, key, **fields):
    request = {
        "comment": {"text": "Get busy living, or get busy dying."},
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.1, "type": "PROBABILITY"}}},
    }
    request.update(fields)
    return post(client, SUGGEST, request, key)


def test_suggestscore_off_by_default_answers_and_stores_nothing(client, api_key):
    response = suggest(client, api_key, clientToken="c-1")
    assert response.status_code == 200 and response.json() == {"clientToken": "c-1"}
    assert SuggestedScore.objects.count() == 0


def test_suggestscore_stores_every_attribute_with_spans(client, api_key, site, settings):
    settings.MODERATION_STORE_SUGGESTED_SCORES = True
    text = "Nice one. You idiot."
    response = suggest(
        client,
        api_key,
        comment={"text": text},
        languages=["en"],
        attributeScores={
            "INSULT": {
                "summaryScore": {"value": 0.9},
                "spanScores": [{"begin": 10, "end": 20, "score": {"value": 0.95, "type": "PROBABILITY"}}],
            },
            "PROFANITY": {"spanScores": [{"begin": 0, "end": 9, "score": {"value": 0.0}}]},
        },
    )
    assert response.status_code == 200 and response.json() == {}
    rows = {r.attribute: r for r in SuggestedScore.objects.all()}
    assert set(rows) == {"INSULT", "PROFANITY"}
    assert rows["INSULT"].label == "insult" and rows["INSULT"].score == 0.9 and rows["INSULT"].site == site
    assert rows["INSULT"].span_scores == [{"begin": 10, "end": 20, "score": 0.95}]
    assert rows["PROFANITY"].label == "obscene" and rows["PROFANITY"].score is None
    assert rows["INSULT"].languages == ["en"] and rows["INSULT"].text == text


def test_suggestscore_honours_do_not_store(client, api_key, settings):
    settings.MODERATION_STORE_SUGGESTED_SCORES = True
    response = suggest(client, api_key, doNotStore=True, clientToken="t")
    assert response.status_code == 200 and response.json() == {"clientToken": "t"}
    assert SuggestedScore.objects.count() == 0


@pytest.mark.parametrize(
    "scores,message",
    [
        ({}, "Missing attribute_scores"),
        ({"FLIRTATION": {"summaryScore": {"value": 0.2}}}, "Unknown requested attribute: FLIRTATION"),
        ({"TOXICITY": {"summaryScore": {"value": 1.2}}}, None),
        ({"TOXICITY": {"summaryScore": {"value": "0.2"}}}, None),
        ({"TOXICITY": {}}, None),
        ({"TOXICITY": {"spanScores": [{"begin": 5, "end": 999, "score": {"value": 0.2}}]}}, None),
    ],
)
def test_suggestscore_errors(client, api_key, settings, scores, message):
    settings.MODERATION_STORE_SUGGESTED_SCORES = True
    response = suggest(client, api_key, attributeScores=scores)
    assert_google_error(response, 400, "INVALID_ARGUMENT", message=message)
    assert SuggestedScore.objects.count() == 0


def test_suggestscore_empty_comment_and_bad_key(client, api_key, site):
    assert_google_error(
        suggest(client, api_key, comment={"text": ""}), 400, "INVALID_ARGUMENT", "COMMENT_EMPTY"
    )
    assert_google_error(suggest(client, "nope"), 403, "PERMISSION_DENIED")


# --- Coral Talk requests, as its server builds them (coralproject/talk services/perspective/perspective.ts)


def test_coral_analyze_request(client, api_key):
    body = {
        "comment": {"text": "You are a pathetic idiot, shut up."},
        "doNotStore": True,
        "requestedAttributes": {"TOXICITY": {}},
        "languages": ["en"],
    }
    response = post(client, ANALYZE, body, api_key)
    assert response.status_code == 200
    # Coral reads exactly this path and flags when it is above its threshold.
    assert response.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5


def test_coral_suggestscore_request(client, api_key, settings):
    settings.MODERATION_STORE_SUGGESTED_SCORES = True
    body = {
        "comment": {"text": "You are a pathetic idiot, shut up."},
        "context": {
            "entries": [
                {
                    "text": json.dumps(
                        {"url": "https://news.example/story?commentID=c1", "Coral_comment_id": "c1"}
                    )
                }
            ]
        },
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
        "languages": ["en"],
        "communityId": "Coral:https://news.example",
        "clientToken": "comment:c1",
    }
    response = post(client, SUGGEST, body, api_key)
    assert response.status_code == 200 and response.json() == {"clientToken": "comment:c1"}
    row = SuggestedScore.objects.get()
    assert (
        row.score == 1.0
        and row.community_id == "Coral:https://news.example"
        and row.client_token == "comment:c1"
    )
