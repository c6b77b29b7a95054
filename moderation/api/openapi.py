"""The OpenAPI 3 description of the site-facing ingestion API, served at ``GET /api/v1/openapi.json``.

A static document: the shapes, limits and error answers of ``moderation/api/v1.py``. The limits are read from
the settings and ``validation.py`` when it is served, so the document cannot drift from what the API enforces;
``tests/moderation/api/test_openapi.py`` checks it against the live API (and fuzzes the API from it with
schemathesis).
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from moderation.policy import REASON_CODES
from moderation.validation import COMMENTER_STATES, REPORT_REASON_CHARS, REQUIRED_FIELDS, STRING_LIMITS

# JSON Schema cannot say "not only invisible characters"; it says "no NUL" and "at least one character that
# is not white space or a control/format character" for the common ones. The API refuses the rest with a 400
# naming `text`.
_NO_NUL = "^[^\\u0000]*$"
_VISIBLE_TEXT = (
    "^[^\\u0000]*"
    "[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u200b-\\u200f\\u2028-\\u202f\\u2060-\\u206f\\ufeff]"
    "[^\\u0000]*$"
)
_ID_FIELDS = ("site_comment_id", "author_id", "story_id", "parent_id")

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["field", "message"],
            "properties": {
                "field": {
                    "type": "string",
                    "description": "the field, header or part of the request at fault",
                },
                "message": {
                    "type": "string",
                    "description": "what is wrong, with the limit where there is one",
                },
                "items": {
                    "type": "array",
                    "description": "batch only: every bad item",
                    "items": {
                        "type": "object",
                        "required": ["index", "field", "message"],
                        "properties": {
                            "index": {"type": "integer"},
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before sending again", "schema": {"type": "string"}}
}

_COMMON_ERRORS = {
    "400": _error(
        "a field is missing or wrong, the body is not a JSON object, not UTF-8, or nested too deep"
    ),
    "401": _error("missing or wrong `Authorization: Bearer <key>`"),
    "405": _error("wrong method"),
    "413": _error("text over MODERATION_MAX_TEXT_CHARS, or body over the body limit"),
    "429": _error(
        "this key sent more than MODERATION_RATE_LIMIT_PER_MINUTE requests in the current minute",
        _RETRY_AFTER,
    ),
}


def _submission(max_text: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "text": {
            "type": "string",
            "minLength": 1,
            "maxLength": max_text,
            "pattern": _VISIBLE_TEXT,
            "description": "the comment; limit counted after trimming surrounding white space",
        },
        "created_at": {
            "type": "string",
            "format": "date-time",
            "pattern": _NO_NUL,
            "description": "ISO 8601 with a time zone offset, e.g. 2026-11-27T10:15:00Z",
        },
        "edited_at": {
            "type": "string",
            "format": "date-time",
            "pattern": _NO_NUL,
            "description": (
                "when the reader edited the comment (ISO 8601 with an offset). A new text under a stored "
                "site_comment_id is an edit, moderated again; one older than the stored edit is ignored"
            ),
        },
        "ip": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
    }
    for field, limit in STRING_LIMITS.items():
        string = {"type": "string", "maxLength": limit, "pattern": _NO_NUL}
        if field in REQUIRED_FIELDS:
            string = {**string, "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"}
        if field in _ID_FIELDS:
            properties[field] = {"anyOf": [string, {"type": "integer", "minimum": 0, "maximum": 2**53}]}
        else:
            properties[field] = string
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED_FIELDS),
        "properties": properties,
    }


# The model's codes (policy.REASON_CODES) and the site's context (issue 21: block_list, watch_list,
# premoderated, closed, ...): an open set, so a client must accept codes it does not know.
_REASON_CODE = {
    "type": "string",
    "pattern": "^[a-z_]+$",
    "description": "a reason code: " + ", ".join(REASON_CODES) + ", or one of the site's context signals "
    "(block_list, watch_list, premoderated, closed, banned, suspended, trusted, new_commenter_link, "
    "held_link, denied_link, burst, reported, ...)",
}

_STORY = {
    "type": "object",
    "required": ["story_id", "mode", "policy_overrides", "title", "closed_at"],
    "properties": {
        "story_id": {"type": "string"},
        "mode": {"type": "string", "enum": ["open", "premoderated", "closed"]},
        "policy_overrides": {"type": "object"},
        "title": {"type": "string"},
        "closed_at": {"type": ["string", "null"]},
        "updated_at": {"type": ["string", "null"]},
    },
}

_STORY_ID = [
    {
        "name": "story_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/]+$"},
    }
]

_STORY_UPDATE = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "mode": {
            "type": "string",
            "enum": ["open", "premoderated", "closed"],
            "description": "premoderated: every comment is held for a person; closed: new comments are "
            "refused",
        },
        "policy_overrides": {
            "type": "object",
            "description": 'thresholds over the site\'s, e.g. {"toxicity": {"review": 0.2}}; replaces the '
            "story's",
            "additionalProperties": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "review": {"type": "number", "minimum": 0, "maximum": 1},
                    "reject": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
        "title": {"type": "string", "maxLength": 500},
    },
}


def _comment_state() -> dict[str, Any]:
    nullable_string = {"type": ["string", "null"]}
    return {
        "type": "object",
        "required": ["id", "site_comment_id", "status"],
        "properties": {
            "id": {"type": "integer"},
            "site_comment_id": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["queued", "approved", "rejected", "needs_review", "failed", "erased"],
            },
            "scores": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
            "reasons": {"type": ["array", "null"], "items": {"type": "string"}},
            "reason_codes": {
                "type": ["array", "null"],
                "items": _REASON_CODE,
            },
            "model_version": nullable_string,
            "adapter_version": {
                "type": ["string", "null"],
                "description": "the site's adapter that re-scored toxicity; null: the shared model's scores",
            },
            "decided_by": nullable_string,
            "submitted_at": nullable_string,
            "decided_at": nullable_string,
            "revision": {"type": "integer", "minimum": 0, "description": "0, then one more per edit"},
            "edited_at": nullable_string,
            "duplicate": {"type": "boolean"},
        },
    }


_AUTHOR_ID = {
    "name": "author_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document for this installation's limits (a fresh dict each call)."""
    max_text = settings.MODERATION_MAX_TEXT_CHARS
    max_batch = settings.MODERATION_MAX_BATCH
    json_body = lambda ref: {  # noqa: E731
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Comment moderation ingestion API",
            "version": "1",
            "description": (
                "Submit comments for moderation and read their decisions. Bodies are UTF-8 JSON objects; "
                "unknown "
                f"fields are refused. Body limit {settings.MODERATION_MAX_BODY_BYTES} bytes "
                f"(batch: {settings.MODERATION_MAX_BATCH_BODY_BYTES}); "
                "JSON nested deeper than 8 levels is refused."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/comments": {
                "get": {
                    "operationId": "getCommentBySiteId",
                    "summary": "A comment's state and decision, by the site's own comment id",
                    "parameters": [
                        {
                            "name": "site_comment_id",
                            "in": "query",
                            "required": True,
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": STRING_LIMITS["site_comment_id"],
                                "pattern": _VISIBLE_TEXT,
                            },
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "the comment",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/CommentState"}}
                            },
                        },
                        "400": _error("site_comment_id missing or over its limit"),
                        "401": _COMMON_ERRORS["401"],
                        "404": _error("no such comment for this site's key (or not stored yet)"),
                        "405": _COMMON_ERRORS["405"],
                        "429": _COMMON_ERRORS["429"],
                    },
                },
                "post": {
                    "operationId": "submitComment",
                    "summary": "Submit one comment; a worker decides it",
                    "requestBody": json_body("Submission"),
                    "responses": {
                        "202": {
                            "description": "stored as queued",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["id", "status"],
                                        "properties": {
                                            "id": {"type": "integer"},
                                            "status": {"type": "string"},
                                            "edited": {"type": "boolean"},
                                            "revision": {"type": "integer", "minimum": 0},
                                        },
                                    }
                                }
                            },
                        },
                        "200": {
                            "description": "submitted before with the same text: its current state, with "
                            "duplicate: true (a new text is an edit: 202 with edited: true)",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/CommentState"}}
                            },
                        },
                        **_COMMON_ERRORS,
                        "409": _error("the story is closed to new comments (field story_id)"),
                        "503": _error("the database could not store it; nothing was accepted", _RETRY_AFTER),
                    },
                },
            },
            "/api/v1/comments:batch": {
                "post": {
                    "operationId": "submitComments",
                    "summary": f"Submit up to {max_batch} comments; all or nothing",
                    "requestBody": json_body("Batch"),
                    "responses": {
                        "202": {
                            "description": "every comment stored (or found), in input order",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["comments"],
                                        "properties": {
                                            "comments": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "required": [
                                                        "id",
                                                        "site_comment_id",
                                                        "status",
                                                        "duplicate",
                                                    ],
                                                    "properties": {
                                                        "id": {"type": "integer"},
                                                        "site_comment_id": {"type": "string"},
                                                        "status": {"type": "string"},
                                                        "duplicate": {"type": "boolean"},
                                                        "edited": {"type": "boolean"},
                                                    },
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        **_COMMON_ERRORS,
                        "409": _error("a new comment is on a story closed to comments; nothing was stored"),
                        "413": _error(
                            f"over {max_batch} comments, a text over the limit, or body over the limit"
                        ),
                        "503": _error(
                            "the database could not store them; nothing was accepted", _RETRY_AFTER
                        ),
                    },
                }
            },
            "/api/v1/comments/{id}": {
                "get": {
                    "operationId": "getComment",
                    "summary": "A comment's state and decision",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "the comment",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/CommentState"}}
                            },
                        },
                        "401": _COMMON_ERRORS["401"],
                        "404": _error("no such comment for this site's key"),
                        "405": _COMMON_ERRORS["405"],
                        "429": _COMMON_ERRORS["429"],
                    },
                }
            },
            "/api/v1/authors/{author_id}:erase": {
                "post": {
                    "operationId": "eraseAuthor",
                    "summary": (
                        "Erase an author's comments and personal data on the key's site (a tombstone stays)"
                    ),
                    "parameters": [
                        {
                            "name": "author_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "what was erased",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": [
                                            "erased_comments",
                                            "comment_ids",
                                            "queued_submissions_dropped",
                                        ],
                                        "properties": {
                                            "erased_comments": {"type": "integer", "minimum": 0},
                                            "comment_ids": {"type": "array", "items": {"type": "integer"}},
                                            "queued_submissions_dropped": {"type": "integer", "minimum": 0},
                                        },
                                    }
                                }
                            },
                        },
                        "401": _COMMON_ERRORS["401"],
                        "404": _error(
                            "no comments by this author for this site (also the answer once erased)"
                        ),
                        "405": _COMMON_ERRORS["405"],
                        "429": _COMMON_ERRORS["429"],
                    },
                }
            },
            "/api/v1/stories/{story_id}": {
                "get": {
                    "operationId": "getStory",
                    "parameters": _STORY_ID,
                    "summary": "A story's controls (a story never set is open, with the site's thresholds)",
                    "responses": {
                        "200": {
                            "description": "the story's controls",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Story"}}
                            },
                        },
                        "400": _COMMON_ERRORS["400"],
                        "401": _COMMON_ERRORS["401"],
                        "405": _COMMON_ERRORS["405"],
                        "429": _COMMON_ERRORS["429"],
                    },
                },
                "put": {
                    "operationId": "setStory",
                    "parameters": _STORY_ID,
                    "summary": "Pre-moderate a story, close it to new comments, or give it stricter "
                    "thresholds",
                    "requestBody": json_body("StoryUpdate"),
                    "responses": {
                        "200": {
                            "description": "the story's controls as saved (audited)",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Story"}}
                            },
                        },
                        **_COMMON_ERRORS,
                        "503": _error("the database could not save it", _RETRY_AFTER),
                    },
                },
            },
            "/api/v1/comments/{id}/reports": {
                "post": {
                    "operationId": "reportComment",
                    "summary": (
                        "A reader reports a comment; reports from the site's report_threshold of distinct "
                        "readers send an approved comment back to review"
                    ),
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        }
                    ],
                    "requestBody": json_body("Report"),
                    "responses": {
                        "201": {
                            "description": "the report is recorded",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ReportResult"}}
                            },
                        },
                        "200": {
                            "description": "this reader reported this comment before: nothing changed",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ReportResult"}}
                            },
                        },
                        **_COMMON_ERRORS,
                        "404": _error("no such comment for this site's key"),
                        "429": _error(
                            "the API key is over its rate limit, or the reader (reporter_id) sent more than "
                            f"{settings.MODERATION_REPORTS_PER_WINDOW} reports in "
                            f"{settings.MODERATION_REPORT_WINDOW_SECONDS} s",
                            _RETRY_AFTER,
                        ),
                    },
                }
            },
            "/api/v1/commenters/{author_id}": {
                "get": {
                    "operationId": "getCommenter",
                    "parameters": [_AUTHOR_ID],
                    "summary": "A commenter's state on the key's site (normal if never set)",
                    "responses": {
                        "200": {
                            "description": "the commenter's state",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CommenterState"}
                                }
                            },
                        },
                        "400": _error("author_id over 255 characters or not valid text"),
                        "401": _COMMON_ERRORS["401"],
                        "405": _COMMON_ERRORS["405"],
                        "429": _COMMON_ERRORS["429"],
                    },
                },
                "put": {
                    "operationId": "setCommenter",
                    "parameters": [_AUTHOR_ID],
                    "summary": (
                        "Set a commenter's state: trusted, normal, premoderated, suspended (until a date) or "
                        "banned; applies to comments decided from now on"
                    ),
                    "requestBody": json_body("CommenterChange"),
                    "responses": {
                        "200": {
                            "description": "the new state",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CommenterState"}
                                }
                            },
                        },
                        **_COMMON_ERRORS,
                    },
                },
            },
            "/api/v1/check": {
                "post": {
                    "operationId": "checkText",
                    "summary": "Score one text without storing it",
                    "requestBody": json_body("Check"),
                    "responses": {
                        "200": {
                            "description": "scores and the outcome the policy would give",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/CheckResult"}}
                            },
                        },
                        **_COMMON_ERRORS,
                        "503": _error("no verified model could be loaded", _RETRY_AFTER),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "the site's API key"}
            },
            "schemas": {
                "Error": _ERROR,
                "Submission": _submission(max_text),
                "Batch": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["comments"],
                    "properties": {
                        "comments": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": max_batch,
                            "items": {"$ref": "#/components/schemas/Submission"},
                        }
                    },
                },
                "Check": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["text"],
                    "properties": {"text": _submission(max_text)["properties"]["text"]},
                },
                "CommentState": _comment_state(),
                "Story": _STORY,
                "StoryUpdate": _STORY_UPDATE,
                "Report": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["reporter_id", "reason"],
                    "properties": {
                        "reporter_id": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 255,
                            "pattern": _VISIBLE_TEXT,
                            "description": "the reader's id on the site",
                        },
                        "reason": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": REPORT_REASON_CHARS,
                            "pattern": _VISIBLE_TEXT,
                            "description": "why the reader reports it, as the site's form put it",
                        },
                    },
                },
                "ReportResult": {
                    "type": "object",
                    "required": [
                        "comment_id",
                        "reporter_id",
                        "duplicate",
                        "open_reports",
                        "status",
                        "sent_to_review",
                    ],
                    "properties": {
                        "comment_id": {"type": "integer"},
                        "reporter_id": {"type": "string"},
                        "duplicate": {"type": "boolean"},
                        "open_reports": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "reports no moderator has answered yet, from distinct readers",
                        },
                        "status": {"type": "string"},
                        "sent_to_review": {"type": "boolean"},
                    },
                },
                "CommenterChange": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["state"],
                    "properties": {
                        "state": {"type": "string", "enum": list(COMMENTER_STATES)},
                        "until": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": 'required for "suspended" (in the future, with a time zone); '
                            "refused for the other states",
                        },
                        "reason": {"type": ["string", "null"], "maxLength": 500, "pattern": _NO_NUL},
                    },
                },
                "CommenterState": {
                    "type": "object",
                    "required": ["author_id", "state", "until", "reason", "updated_at", "updated_by"],
                    "properties": {
                        "author_id": {"type": "string"},
                        "state": {"type": "string", "enum": list(COMMENTER_STATES)},
                        "until": {"type": ["string", "null"]},
                        "reason": {"type": "string"},
                        "updated_at": {"type": ["string", "null"]},
                        "updated_by": {"type": ["string", "null"]},
                    },
                },
                "CheckResult": {
                    "type": "object",
                    "required": ["scores", "outcome", "reasons", "model_version", "language"],
                    "properties": {
                        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
                        "outcome": {"type": "string", "enum": ["approved", "rejected", "needs_review"]},
                        "reasons": {"type": "array", "items": {"type": "string"}},
                        "reason_codes": {"type": "array", "items": _REASON_CODE},
                        "model_version": {"type": "string"},
                        "adapter_version": {"type": ["string", "null"]},
                        "language": {"type": ["string", "null"]},
                    },
                },
            },
        },
    }
    return copy.deepcopy(document)


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/openapi.json`` (no key needed: it describes the API, it holds nothing)."""
    return JsonResponse(openapi_document())
