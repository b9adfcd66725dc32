"""Usage quantities: what usage-based lines bill, what is sent to Stripe's meters, and what
invoice review checks against."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice.admin_site import BackofficeAdmin
from backoffice.models import User
from billing.money import format_amount
from billing.usage.late_usage import BILL_LATE_USAGE, usage_bill_late
from billing.usage.models import MeterEvent, MeterStatus, UsageQuantity
from billing.usage.resources import UsageResource
from billing.usage.selectors import as_sentence, metered_terms, not_in_stripe, usage_refusal
from billing.usage.services import usage_send_after_commit
from customers.selectors import accounts_visible_to
from file_imports.admin import FileImportExportMixin
from stripe_sync.admin import refused_while_disconnected
from stripe_sync.writes import stripe_connected


class UsageQuantityForm(forms.ModelForm):
    """Refuses, as the import does, usage that no contract bills or that cannot reach Stripe."""

    class Meta:
        model = UsageQuantity
        fields = ("account", "metric", "period_start", "period_end", "quantity")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        account, metric = data.get("account"), data.get("metric")
        start, end = data.get("period_start"), data.get("period_end")
        if account is None or not metric or start is None or end is None or end < start:
            return data
        ref = account.external_ref or str(account)
        refusal = usage_refusal(metered_terms([account.pk]), account.pk, ref, metric, (start, end))
        if refusal:
            self.add_error(refusal[0], as_sentence(refusal[1]))
        if stripe_connected() and not account.stripe_customer_id:
            self.add_error(*not_in_stripe(ref))
        return data


class MeterEventInline(admin.TabularInline):
    model = MeterEvent
    verbose_name_plural = "Sent to Stripe's meter"
    fields = ("identifier", "value", "timestamp", "status", "sent_at", "canceled_at", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # whoever sees the figure sees what was sent of it

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UsageQuantity)
class UsageQuantityAdmin(FileImportExportMixin, BackofficeAdmin):
    form = UsageQuantityForm
    resource_classes = [UsageResource]
    list_display = (
        "account",
        "metric",
        "period_start",
        "period_end",
        "quantity",
        "stripe_status",
        "source",
    )
    list_filter = ("stripe_status", "metric", "period_start")
    search_fields = ("account__legal_name", "account__external_ref", "=metric")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
    date_hierarchy = "period_start"
    show_full_result_count = False
    readonly_fields = ("stripe_status", "sent_quantity", "late_units", "stripe_error", "source")
    inlines = (MeterEventInline,)
    actions = ("send_to_stripe", "bill_late_usage")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and obj.meter_events.exists():
            # Sent under this customer, metric and period: a correction changes the quantity;
            # anything else is another figure.
            return (*fields, "account", "metric", "period_start", "period_end")
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[UsageQuantity]:
        visible = accounts_visible_to(cast(User, request.user))
        return super().get_queryset(request).filter(account__in=visible)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "account":
            kwargs["queryset"] = accounts_visible_to(cast(User, request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        usage_send_after_commit([obj.pk])

    @admin.action(description="Send the selected usage to Stripe now", permissions=("change",))
    def send_to_stripe(self, request: HttpRequest, queryset: QuerySet[UsageQuantity]) -> None:
        if refused_while_disconnected(self, request):
            return
        ids = list(queryset.values_list("pk", flat=True))
        usage_send_after_commit(ids)
        self.message_user(request, f"{len(ids)} usage figure(s) queued for Stripe.")

    def has_bill_late_usage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BILL_LATE_USAGE)

    @admin.action(
        description="Bill what Stripe's meter can no longer take as an invoice item",
        permissions=("bill_late_usage",),
    )
    def bill_late_usage(self, request: HttpRequest, queryset: QuerySet[UsageQuantity]) -> None:
        if refused_while_disconnected(self, request):
            return
        for usage in queryset.filter(stripe_status=MeterStatus.REFUSED):
            try:
                charge = usage_bill_late(usage=usage, by=request.user)
            except (ValidationError, PermissionDenied) as error:
                why = " ".join(getattr(error, "messages", [str(error)]))
                self.message_user(request, f"{usage}: {why}", messages.ERROR)
                continue
            money = format_amount(charge.amount, charge.contract.currency)
            self.message_user(
                request,
                f"{usage}: {charge.units:,} units, {money}, on {usage.account}'s next invoice "
                f"({charge.contract.number}, {charge.period[0]} to {charge.period[1]}).",
            )
