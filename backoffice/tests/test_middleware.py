"""Endpoints called by machines skip the middleware made for people."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from django.urls import reverse

from backoffice.middleware import MachineEndpointsMiddleware


@pytest.mark.django_db
def test_the_webhook_is_answered_without_the_browser_middleware(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_middleware"

    response = Client().post(reverse("stripe-webhook"), data="{}", content_type="application/json")

    assert response.status_code == 400  # unsigned: refused by the view itself
    assert response["Content-Length"] == str(len(response.content))
    assert "X-Frame-Options" not in response  # XFrameOptionsMiddleware did not run
    assert "Cookie" not in response.get("Vary", "")  # nor SessionMiddleware


@pytest.mark.django_db
def test_the_admin_still_has_every_middleware(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"


def test_a_machine_endpoint_checks_its_host(settings):
    settings.ALLOWED_HOSTS = ["billing.example.com"]

    response = Client().post(
        reverse("stripe-webhook"),
        data="{}",
        content_type="application/json",
        HTTP_HOST="evil.example",
    )

    assert response.status_code == 400


def test_a_view_that_checks_csrf_cannot_be_a_machine_endpoint(settings):
    settings.MACHINE_ENDPOINTS = ["admin:index"]
    middleware = MachineEndpointsMiddleware(lambda request: None)  # type: ignore[arg-type, return-value]

    with pytest.raises(ImproperlyConfigured, match="csrf_exempt"):
        middleware(RequestFactory().get("/"))
