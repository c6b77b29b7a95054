"""The moderators' login page: Django's ``LoginView`` behind a failed-login limit (issue 6).

After ``MODERATION_LOGIN_MAX_FAILURES`` failed logins for one username from one address (REMOTE_ADDR, not a
forwarded header) within ``MODERATION_LOGIN_LOCKOUT_SECONDS``, that pair is locked out for the rest of that
window (429, with a message saying for how long), even with the right password. A successful login clears
the count. The counters are ``ratelimit.py``'s, kept in Redis, failing open."""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from moderation.ratelimit import clear_login_failures, login_lockout_seconds, record_login_failure


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView (with its safe ``next`` handling) behind a per-(username, address) failure
    limit."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")[:255]
        address = request.META.get("REMOTE_ADDR", "")
        locked_for = login_lockout_seconds(username, address)
        if locked_for:
            minutes = max(1, math.ceil(locked_for / 60))
            messages.error(
                request,
                f"Too many failed logins for this username from your address. Try again in {minutes} "
                f"minute{'s' if minutes != 1 else ''}, or ask an administrator to reset your password.",
            )
            response = self.render_to_response(
                self.get_context_data(form=self.get_form_class()(request)), status=429
            )
            response["Retry-After"] = str(locked_for)
            return response
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            clear_login_failures(username, address)
        else:
            record_login_failure(username, address)
        return response
