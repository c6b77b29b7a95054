"""``POST /api/v1/authors/<author_id>:erase``: a site erases one of its authors (issue 5).

The erasure itself is ``services.erase_author``; this view authenticates the site's API key the way the
rest of the v1 API does and answers in its error format."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from moderation.api.json_io import error
from moderation.api.v1 import authenticate
from moderation.services import erase_author


@csrf_exempt
def erase_author_view(request: HttpRequest, author_id: str) -> JsonResponse:
    """``POST /api/v1/authors/<author_id>:erase`` with the site's API key: erase that author on the key's
    site. 200 ``{"erased_comments": n, "comment_ids": [...], "queued_submissions_dropped": n}``; 404 if
    the site has no comment by this author (which is also the answer once erased); 405 for another
    method; the v1 API's 401 and 429 answers for a missing, wrong or over-limit key."""
    if request.method != "POST":
        return error(405, "method", "use POST to erase an author", Allow="POST")
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    erasure = erase_author(site, author_id, actor_label="site:" + site.slug)
    if not erasure.comment_ids and not erasure.dropped_submissions:
        return error(404, "author_id", "no comments by this author for this site")
    return JsonResponse(
        {
            "erased_comments": len(erasure.comment_ids),
            "comment_ids": erasure.comment_ids,
            "queued_submissions_dropped": erasure.dropped_submissions,
        }
    )
