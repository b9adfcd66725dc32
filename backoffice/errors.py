"""The error pages people see when DEBUG is off: what happened, in words, and the way back.

400, 403, 404 and a refused form (CSRF) are pages of the admin (templates/400.html, 403.html,
404.html, 403_csrf.html, extending admin/base_site.html) with the admin's header and, for a
person signed in, its sidebar. The 500 page is Django's own handler with templates/500.html,
plain HTML with no template tag, so that it cannot fail itself.
"""

import logging
from typing import Any

from django.contrib import admin
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseNotFound,
)
from django.template.loader import render_to_string
from django.urls import Resolver404

from backoffice.roles import roles_granting

logger = logging.getLogger(__name__)

# The permission a page of a model's admin needs, by the end of its URL name
# ("billing_invoicereview_changelist"); the model's own custom pages are read from the model.
PAGE_PERMISSIONS = {
    "changelist": "view",
    "change": "view",
    "history": "view",
    "add": "add",
    "delete": "delete",
}


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    """The admin's context (header, sidebar, user tools) when it can be had; the header alone
    otherwise (a request refused before it reached the login, or an admin that fails)."""
    site = admin.site
    context: dict[str, Any] = {
        "site_header": site.site_header,
        "site_title": site.site_title,
        "has_permission": False,
    }
    if hasattr(request, "user"):
        try:
            context.update(site.each_context(request))
        except Exception:  # the error page must still be shown: with the header alone
            logger.exception("The admin's context could not be had for an error page")
    if not context["has_permission"]:
        # Not signed in (or owing the second factor): no sidebar, which would say only "You
        # don't have permission to view or edit anything."
        context["is_nav_sidebar_enabled"] = False
    return {**context, **extra}


def _render(request: HttpRequest, template: str, **extra: Any) -> str:
    return render_to_string(template, _context(request, **extra), request=request)


def error_page(request: HttpRequest, template: str, *, status: int, **extra: Any) -> HttpResponse:
    """A page of the admin's look for a request refused before its view ran (by middleware):
    what happened and the way back, as the pages here."""
    return HttpResponse(_render(request, template, **extra), status=status)


def roles_for_page(request: HttpRequest) -> list[str]:
    """The roles that may open the admin page asked for: ["Finance"] for the invoice review
    queue. Empty when it cannot be told (a workflow step, a page of no model)."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.url_name or "admin" not in match.namespaces:
        return []
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if not match.url_name.startswith(prefix):
            continue
        page = match.url_name[len(prefix) :]
        action = PAGE_PERMISSIONS.get(page)
        if page == "change" and request.method == "POST":
            action = "change"
        if action is None:
            return []
        return roles_granting(f"{model._meta.app_label}.{action}_{model._meta.model_name}")
    return []


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Refused before anything was done: the admin's context is not needed, nor safe to build
    # (a request from a host not allowed has no user).
    context = {"site_header": admin.site.site_header, "site_title": admin.site.site_title}
    return HttpResponseBadRequest(render_to_string("400.html", context))


def _reason(exception: Exception) -> str:
    """What our own code says when it refuses ("No invoice review 12 that you may see."):
    written for people. The URL resolver's is a list of patterns, and is not shown."""
    if isinstance(exception, Resolver404) or not exception.args:
        return ""
    return exception.args[0] if isinstance(exception.args[0], str) else ""


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return HttpResponseForbidden(
        _render(
            request,
            "403.html",
            title="Not allowed",
            reason=_reason(exception),
            roles=roles_for_page(request),
        )
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return HttpResponseNotFound(
        _render(request, "404.html", title="Page not found", reason=_reason(exception))
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form refused because its security token was missing or stale
    (Django logs why, on django.security.csrf)."""
    return HttpResponseForbidden(_render(request, "403_csrf.html", title="Form not accepted"))
