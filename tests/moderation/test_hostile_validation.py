"""Property-based fuzzing (hypothesis) of the validators every submission path shares: whatever comes in, the
answer is a clean submission that the database can store or a SubmissionError naming a field, never another
exception. Budgeted (max_examples) to run in a few seconds in the normal suite."""

import json
import unicodedata

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.api.json_io import MAX_JSON_DEPTH, read_json_body
from moderation.validation import ALLOWED_FIELDS, STRING_LIMITS, SubmissionError, validate_submission
from training.normalize import normalize

# derandomize: the same examples every run, so CI does not flip; raise max_examples (or drop derandomize)
# locally to explore further (a random run found the variation-selector gap fixed in training/normalize.py).
BUDGET = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# Every code point, lone surrogates and NUL included (hypothesis leaves surrogates out by default).
any_char = st.characters(codec=None, categories=None)
hostile_text = st.one_of(
    st.text(any_char, max_size=60),
    st.text(
        st.sampled_from(" \t\n\x00\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\u3000\ud800\udfffa"), max_size=30
    ),
    st.text(st.characters(codec="utf-8"), max_size=60),
)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), hostile_text)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12,
)
field_name = st.one_of(st.sampled_from(sorted(ALLOWED_FIELDS)), hostile_text)


def good() -> dict:
    return {
        "site_comment_id": "c-1",
        "text": "A fair point about the border.",
        "author_id": "a",
        "story_id": "s",
    }


def assert_storable(clean: dict) -> None:
    """What validate_submission lets through can be stored by SQLite and PostgreSQL and is not empty."""
    for field, value in clean.items():
        if isinstance(value, str):
            assert "\x00" not in value, field
            value.encode("utf-8")  # raises on a lone surrogate
            if field in STRING_LIMITS:
                assert len(value) <= STRING_LIMITS[field], field
    text = clean["text"]
    assert text and text == text.strip()
    assert any(
        not (ch.isspace() or unicodedata.category(ch) in {"Cf", "Zs", "Zl", "Zp", "Cc"}) for ch in text
    )


@BUDGET
@given(data=st.one_of(json_value, st.dictionaries(field_name, json_value, max_size=8)))
def test_any_json_value_is_a_clean_submission_or_a_submission_error(data):
    try:
        clean = validate_submission(data)
    except SubmissionError as exc:
        assert exc.status in (400, 413) and isinstance(exc.field, str) and exc.message  # field "" is a key ""
        json.dumps(exc.as_dict())  # the error answer can be serialised
    else:
        assert_storable(clean)


@BUDGET
@given(field=st.sampled_from(sorted(ALLOWED_FIELDS)), value=json_value)
def test_any_value_in_any_field_of_a_good_submission(field, value):
    try:
        clean = validate_submission({**good(), field: value})
    except SubmissionError as exc:
        assert exc.field == field or exc.field == "text"
    else:
        assert_storable(clean)


@BUDGET
@given(text=hostile_text)
def test_any_text_is_stored_only_if_visible_and_valid_unicode(text):
    try:
        clean = validate_submission({**good(), "text": text})
    except SubmissionError as exc:
        assert exc.field == "text"
    else:
        assert_storable(clean)
        assert clean["text"] == text.strip()


@pytest.fixture(scope="module")
def factory():
    return RequestFactory()


@BUDGET
@given(
    body=st.one_of(
        st.binary(max_size=200),
        json_value.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
        st.integers(1, 400).map(lambda n: ("[" * n + "]" * n).encode()),
        st.integers(1, 400).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    )
)
def test_read_json_body_answers_any_bytes(factory, body):
    request = factory.post("/api/v1/comments", body, content_type="application/json")
    try:
        data = read_json_body(request, limit=4096)
    except SubmissionError as exc:
        assert exc.status in (400, 413) and exc.field in ("body", "Content-Type")
    else:
        json.dumps(data, allow_nan=True)

        def depth(value, level=1):
            if isinstance(value, dict):
                return max([depth(v, level + 1) for v in value.values()], default=level)
            if isinstance(value, list):
                return max([depth(v, level + 1) for v in value], default=level)
            return level

        assert depth(data) <= MAX_JSON_DEPTH


@BUDGET
@given(text=st.text(any_char, max_size=200))
def test_normalize_never_raises_and_leaves_no_invisible_characters(text):
    out = normalize(text)
    assert isinstance(out, str)
    assert not any(unicodedata.category(ch) in {"Cf", "Mn", "Me"} for ch in out)
    assert out == " ".join(out.split())
