"""Endpoints called by machines skip the middleware made for people."""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.urls import ResolverMatch, get_script_prefix, resolve, reverse


class MachineEndpointsMiddleware:
    """Answers the URLs named in `settings.MACHINE_ENDPOINTS` (Stripe's webhook) by calling
    their view at once, without the middleware listed after this one: sessions, CSRF cookies,
    users, messages, frame options and the history's request serve a person in a browser, and
    cost a webhook about an eighth of its time (bench/webhook_http.py).

    Placed after SecurityMiddleware (and WhiteNoise), whose HTTPS rules still apply. What
    CommonMiddleware does that matters to a machine is kept: the host is checked against
    ALLOWED_HOSTS (a 400 otherwise) and the answer carries its Content-Length (else gunicorn
    sends it chunked). The views keep their own decorators (csrf_exempt, require_POST).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self._matches: dict[str, ResolverMatch] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self._matches is None:
            self._matches = self._resolve_endpoints()
        match = self._matches.get(request.path_info)
        if match is None:
            return self.get_response(request)
        request.get_host()  # DisallowedHost, answered 400, for a host not allowed
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response

    @staticmethod
    def _resolve_endpoints() -> dict[str, ResolverMatch]:
        """path_info -> the endpoint's match; at the first request, once the URLconf and the
        script prefix are known."""
        matches = {}
        prefix = get_script_prefix()
        for name in settings.MACHINE_ENDPOINTS:
            path_info = "/" + reverse(name)[len(prefix) :]
            match = resolve(path_info)
            if not getattr(match.func, "csrf_exempt", False):
                # CsrfViewMiddleware is skipped too: only a view that needs no CSRF check
                # (it authenticates its caller otherwise, as a signed webhook does) is listed.
                raise ImproperlyConfigured(
                    f"MACHINE_ENDPOINTS: the view of {name} is not csrf_exempt."
                )
            matches[path_info] = match
        return matches
