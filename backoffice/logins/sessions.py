"""Sessions that end: after `SESSION_IDLE_TIMEOUT_MINUTES` without a request, and in any case
`SESSION_MAX_AGE_HOURS` after signing in (the cookie and the stored session expire then too,
however active the person is)."""

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

# Seconds since the epoch, in the session.
SIGNED_IN_AT = "logins_signed_in_at"
LAST_SEEN_AT = "logins_last_seen_at"
# The last request is written to the session at most once a minute (not a write a request);
# an idle session may therefore end up to a minute early, never late.
LAST_SEEN_RESOLUTION_SECONDS = 60


def now() -> float:
    return time.time()


def session_start(*, request: HttpRequest) -> None:
    """At every sign-in: the session's clock starts, and its absolute end is fixed (stored
    session and cookie), so that activity never moves it."""
    started = now()
    request.session[SIGNED_IN_AT] = started
    request.session[LAST_SEEN_AT] = started
    request.session.set_expiry(timezone.now() + timedelta(hours=settings.SESSION_MAX_AGE_HOURS))


def session_started_on_login(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """django.contrib.auth's user_logged_in receiver."""
    if request is not None and hasattr(request, "session"):
        session_start(request=request)


def session_end_reason(*, request: HttpRequest) -> str | None:
    """Why the signed-in session of `request` is over, in words, or None while it lasts; notes
    the request as activity."""
    session = request.session
    signed_in_at, last_seen_at = session.get(SIGNED_IN_AT), session.get(LAST_SEEN_AT)
    moment = now()
    if signed_in_at is None or last_seen_at is None:
        # A session from before these rules: its clock starts now.
        session_start(request=request)
        return None
    max_age_hours = settings.SESSION_MAX_AGE_HOURS
    idle_minutes = settings.SESSION_IDLE_TIMEOUT_MINUTES
    if moment - signed_in_at >= max_age_hours * 3600:
        return f"{max_age_hours} hours after signing in (the longest a session lasts)"
    if moment - last_seen_at >= idle_minutes * 60:
        return f"after {idle_minutes} minutes without activity"
    if moment - last_seen_at >= LAST_SEEN_RESOLUTION_SECONDS:
        session[LAST_SEEN_AT] = moment
    return None
