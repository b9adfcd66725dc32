"""Every page carries the Content-Security-Policy and the other security headers."""

import re

import pytest
from django.urls import reverse

from backoffice.security_headers import csp_header_value
from backoffice.tests.test_settings import manage

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    return {
        name: sources
        for name, *sources in (part.split() for part in header.split(";") if part.strip())
    }


def test_an_admin_page_allows_only_our_own_scripts_and_styles(admin_client):
    # when
    response = admin_client.get(reverse("admin:index"))

    # then
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other site
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "Content-Security-Policy-Report-Only" not in response


def test_an_admin_page_has_the_other_security_headers(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "camera=()" in response["Permissions-Policy"]
    assert "geolocation=()" in response["Permissions-Policy"]


def test_the_login_page_and_error_pages_carry_the_policy_too(client):
    for url, status in ((reverse("admin:login"), 200), ("/no-such-page/", 404)):
        response = client.get(url)
        assert response.status_code == status
        assert "script-src 'self'" in response["Content-Security-Policy"]


def test_report_only_sends_the_policy_under_the_report_only_header(client, settings):
    # given: what CSP_REPORT_ONLY=true makes of the settings
    settings.SECURE_CSP_REPORT_ONLY, settings.SECURE_CSP = settings.SECURE_CSP, {}

    # when
    response = client.get(reverse("admin:login"))

    # then
    assert "Content-Security-Policy" not in response
    assert "script-src 'self'" in response["Content-Security-Policy-Report-Only"]


def test_no_template_of_ours_has_an_inline_script_or_style_element():
    """The policy refuses them: a <style> or an inline <script> in a template would be a page
    that renders unstyled or broken (the browser tests see the console error too)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    templates = [
        path
        for path in root.glob("**/templates/**/*.html")
        if ".venv" not in path.parts and "node_modules" not in path.parts
    ]
    assert templates
    offending = []
    for path in templates:
        text = path.read_text()
        if re.search(r"<style[\s>]", text) or re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text):
            offending.append(str(path.relative_to(root)))
        if re.search(r"\son[a-z]+\s*=", text) or "javascript:" in text:
            offending.append(str(path.relative_to(root)))
    assert offending == []


def test_the_policy_is_written_as_django_writes_it():
    policy = {"default-src": ["'self'"], "img-src": ["'self'", "data:"], "upgrade": True}

    assert csp_header_value(policy) == "default-src 'self'; img-src 'self' data:; upgrade"


def test_csp_report_only_switches_the_policy_to_report_only():
    code = (
        "from django.conf import settings as s; "
        "print(bool(s.SECURE_CSP), bool(s.SECURE_CSP_REPORT_ONLY))"
    )

    def enforced_and_reported(**env: str) -> list[str]:
        return manage("shell", "--no-imports", "-c", code, **env).stdout.split()

    assert enforced_and_reported() == ["True", "False"]
    assert enforced_and_reported(CSP_REPORT_ONLY="true") == ["False", "True"]
