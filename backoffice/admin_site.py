"""The admin is the product: one site for finance staff and account managers."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from djstripe.apps import DjstripeAppConfig


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Finance back-office"
    site_title = "Finance back-office"
    index_title = "Billing and customers"


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"


class StripeMirrorConfig(DjstripeAppConfig):
    """dj-stripe, under the name finance knows it by in the admin."""

    verbose_name = "Stripe mirror (read-only)"
