"""The site's URLs and pages broken on purpose, for the checks' own test (test_checks.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from backoffice.urls import urlpatterns as site_urlpatterns

PAGE = "<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


def fine(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE.format(title="Fine", body="<p>Nothing wrong here.</p>"))


def server_exception(request: HttpRequest) -> HttpResponse:
    raise KeyError("paid")


def console_error(request: HttpRequest) -> HttpResponse:
    script = "<script>window.undefinedFunction();</script>"
    return HttpResponse(PAGE.format(title="Script error", body=script))


def not_found(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE.format(title="Gone", body="<p>Gone</p>"), status=404)


urlpatterns = [
    path("selfcheck/fine/", fine),
    path("selfcheck/server-exception/", server_exception),
    path("selfcheck/console-error/", console_error),
    path("selfcheck/not-found/", not_found),
    *site_urlpatterns,
]
