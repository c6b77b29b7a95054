import pytest

from moderation.validation import SubmissionError, validate_submission
from tests.conftest import comment_payload


def error_of(data) -> SubmissionError:
    with pytest.raises(SubmissionError) as info:
        validate_submission(data)
    return info.value


def test_valid_payload_is_cleaned():
    clean = validate_submission(comment_payload(text="  Fair point.\n", ip="203.0.113.7", author_id=42))
    assert clean["text"] == "Fair point."
    assert clean["author_id"] == "42"
    assert clean["ip"] == "203.0.113.7"
    assert clean["created_at"].year == 2026
    assert clean["parent_id"] == ""


@pytest.mark.parametrize("field", ["site_comment_id", "text", "author_id", "story_id"])
def test_missing_required_field_is_named(field):
    data = comment_payload()
    del data[field]
    err = error_of(data)
    assert err.field == field and "required" in err.message and err.status == 400


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b\u200b", "\ufeff \u2060"])
def test_empty_or_invisible_text_is_refused(text):
    err = error_of(comment_payload(text=text))
    assert err.field == "text" and "empty" in err.message


def test_text_over_the_limit_is_413_and_names_the_limit(settings):
    settings.MODERATION_MAX_TEXT_CHARS = 100
    err = error_of(comment_payload(text="x" * 101))
    assert (err.field, err.status) == ("text", 413)
    assert "101" in err.message and "100" in err.message


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("text", 12, "must be a string, got number"),
        ("text", ["a"], "must be a string, got array"),
        ("story_title", {"a": 1}, "must be a string, got object"),
        ("author_id", True, "must be a string, got boolean"),
        ("text", "a\x00b", "NUL"),
        ("text", "bad \ud800 surrogate", "surrogate"),
        ("created_at", "yesterday", "ISO 8601"),
        ("created_at", "2026-11-27T10:15:00", "time zone"),
        ("ip", "300.1.1.1", "IPv4 or IPv6"),
        ("story_title", "t" * 501, "limit is 500"),
    ],
)
def test_bad_fields_are_named(field, value, expected):
    err = error_of(comment_payload(**{field: value}))
    assert err.field == field
    assert expected in err.message


def test_unknown_field_is_refused():
    err = error_of(comment_payload(secret_admin_flag=True))
    assert err.field == "secret_admin_flag" and "not a known field" in err.message


def test_body_must_be_an_object():
    assert error_of(["not", "an", "object"]).field == "body"
