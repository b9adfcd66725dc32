"""The admin is the product: one site for finance staff and account managers."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Finance back-office"
    site_title = "Finance back-office"
    index_title = "Billing and customers"


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"
