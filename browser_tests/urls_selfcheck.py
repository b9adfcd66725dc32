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
    # From a file, as the Content-Security-Policy allows scripts.
    script = '<script src="/selfcheck/broken.js"></script>'
    return HttpResponse(PAGE.format(title="Script error", body=script))


def broken_script(request: HttpRequest) -> HttpResponse:
    return HttpResponse("window.undefinedFunction();", content_type="text/javascript")


def csp_violation(request: HttpRequest) -> HttpResponse:
    # An inline script and a <style> element: both refused by the Content-Security-Policy.
    body = "<style>p { color: red; }</style><script>document.title = 'ran';</script>"
    return HttpResponse(PAGE.format(title="Inline", body=body))


def not_found(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE.format(title="Gone", body="<p>Gone</p>"), status=404)


urlpatterns = [
    path("selfcheck/fine/", fine),
    path("selfcheck/server-exception/", server_exception),
    path("selfcheck/console-error/", console_error),
    path("selfcheck/broken.js", broken_script),
    path("selfcheck/csp-violation/", csp_violation),
    path("selfcheck/not-found/", not_found),
    *site_urlpatterns,
]
