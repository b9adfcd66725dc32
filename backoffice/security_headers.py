"""The security headers Django 5.2's SecurityMiddleware does not send: the Content-Security-Policy,
Permissions-Policy and Cross-Origin-Resource-Policy.

The policy is read from settings shaped like Django 6.0's (`SECURE_CSP`, `SECURE_CSP_REPORT_ONLY`:
a directive -> its sources), so that upgrading replaces this middleware with Django's own
`django.middleware.csp.ContentSecurityPolicyMiddleware` without touching the settings. Nothing
here needs a nonce: no page of the back-office has an inline script.
"""

from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

CSP_HEADER = "Content-Security-Policy"
CSP_REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


def csp_header_value(policy: Mapping[str, Sequence[str] | str | bool]) -> str:
    """`{"script-src": ["'self'"], "upgrade-insecure-requests": True}` ->
    "script-src 'self'; upgrade-insecure-requests", as Django 6.0 writes it."""
    directives = []
    for directive, sources in policy.items():
        if sources is True:
            directives.append(directive)
        elif sources:
            values = [sources] if isinstance(sources, str) else list(sources)
            directives.append(" ".join([directive, *values]))
    return "; ".join(directives)


def permissions_policy_value(features: Mapping[str, Sequence[str]]) -> str:
    """`{"camera": []}` -> "camera=()": no origin, this page included, may use the camera."""
    return ", ".join(f"{feature}=({' '.join(origins)})" for feature, origins in features.items())


def security_headers() -> dict[str, str]:
    """The headers every response carries, from the settings of the moment."""
    headers = {}
    if policy := getattr(settings, "SECURE_CSP", None):
        headers[CSP_HEADER] = csp_header_value(policy)
    if report_only := getattr(settings, "SECURE_CSP_REPORT_ONLY", None):
        headers[CSP_REPORT_ONLY_HEADER] = csp_header_value(report_only)
    if features := getattr(settings, "PERMISSIONS_POLICY", None):
        headers["Permissions-Policy"] = permissions_policy_value(features)
    if resource_policy := getattr(settings, "SECURE_CROSS_ORIGIN_RESOURCE_POLICY", ""):
        headers["Cross-Origin-Resource-Policy"] = resource_policy
    return headers


class SecurityHeadersMiddleware:
    """Adds `security_headers()` to every response that has not set them itself (a view may
    loosen its own policy), error pages included. Placed right after SecurityMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        for name, value in security_headers().items():
            response.setdefault(name, value)
        return response
