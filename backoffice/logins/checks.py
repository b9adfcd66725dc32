"""A mistyped TWO_FACTOR_REQUIRED_FOR would silently require a second factor of nobody: refused
by `manage.py check` (and so by every command and the server's start)."""

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_permission_codename
from django.core.checks import Error, Tags, register

from backoffice.logins.policy import STAFF, SUPERUSERS


@register(Tags.security)
def two_factor_required_for_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    known = set()
    for model in apps.get_models():
        opts = model._meta
        known |= {
            f"{opts.app_label}.{get_permission_codename(action, opts)}"
            for action in opts.default_permissions
        }
        known |= {f"{opts.app_label}.{codename}" for codename, _ in opts.permissions}
    return [
        Error(
            f"TWO_FACTOR_REQUIRED_FOR names {entry!r}, which is neither 'superusers', 'staff' nor "
            "a permission (app_label.codename, e.g. billing.approve_invoice).",
            id="logins.E001",
        )
        for entry in settings.TWO_FACTOR_REQUIRED_FOR
        if entry not in (SUPERUSERS, STAFF) and entry not in known
    ]
