"""Usage quantities: what usage-based lines bill, and invoice review checks against."""

from typing import Any, cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice.admin_site import BackofficeAdmin
from backoffice.models import User
from billing.usage.models import UsageQuantity
from billing.usage.resources import UsageResource
from customers.selectors import accounts_visible_to
from file_imports.admin import FileImportExportMixin


@admin.register(UsageQuantity)
class UsageQuantityAdmin(FileImportExportMixin, BackofficeAdmin):
    import_resources = (UsageResource,)
    list_display = ("account", "metric", "period_start", "period_end", "quantity", "source")
    list_filter = ("metric", "period_start")
    search_fields = ("account__legal_name", "account__external_ref", "=metric")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
    date_hierarchy = "period_start"
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[UsageQuantity]:
        visible = accounts_visible_to(cast(User, request.user))
        return super().get_queryset(request).filter(account__in=visible)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "account":
            kwargs["queryset"] = accounts_visible_to(cast(User, request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
