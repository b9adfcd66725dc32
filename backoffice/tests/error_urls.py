"""The site's URLs and error handlers, and a page that fails: for the 500 page's test."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from backoffice.urls import handler400, handler403, handler404, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "urlpatterns"]


def fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [path("test-only/fails/", fails), *urlpatterns]
