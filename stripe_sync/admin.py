"""Admin for the Stripe sync: its health per object type, the events received, fixes to
dj-stripe's own mirror screens (searches that fail, sync actions that would store the key), and
the table of writes sent to Stripe that each record's page shows."""

from datetime import UTC, datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from djstripe import models as djstripe_models
from djstripe.admin.admin import StripeModelAdmin

from backoffice.admin_site import ReadOnlyAdmin
from stripe_sync.backfill import slice_of
from stripe_sync.events import METER_ERROR_TYPES
from stripe_sync.models import OutboxTask, StripeEvent, StripeWrite, SyncStatus
from stripe_sync.object_types import BY_KEY, BY_MODEL, EVENTS_KEY, LISTED_TYPES
from stripe_sync.outbox import STUCK_AFTER, enqueue, publish
from stripe_sync.tasks import (
    stripe_backfill_slice_task,
    stripe_backfill_split_task,
    stripe_event_process_task,
    stripe_events_sync_task,
    stripe_object_refresh_task,
)
from stripe_sync.writes import stripe_connected

RUN_STRIPE_SYNC = "stripe_sync.run_stripe_sync"


def _ago(moment: Any) -> str:
    if moment is None:
        return "never"
    seconds = int((timezone.now() - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _day(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, tz=UTC).date().isoformat()


def _refused_without_stripe(model_admin: Any, request: HttpRequest) -> bool:
    """An action that reads from Stripe, without a key (the demo): said so, nothing queued.
    True when refused."""
    if stripe_connected():
        return False
    model_admin.message_user(
        request,
        "No Stripe account is connected (STRIPE_SECRET_KEY is not set): nothing can be read "
        "from Stripe. See the README, 'Connecting a Stripe account'.",
        messages.ERROR,
    )
    return True


class SyncRecordAdmin(ReadOnlyAdmin):
    """Records the engine writes; their actions (sync, retry) need run_stripe_sync."""

    def has_run_stripe_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RUN_STRIPE_SYNC)


@admin.register(SyncStatus)
class SyncStatusAdmin(SyncRecordAdmin):
    list_display = (
        "type_label",
        "behind_stripe",
        "last_run_finished_at",
        "last_run_objects",
        "last_run_requests",
        "duration",
        "backfill_state",
        "last_error",
    )
    actions = ("sync_now", "backfill_from_scratch")
    ordering = ("id",)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # Every type has its row from the first look, even before its first sync.
        for key in [EVENTS_KEY, *(t.key for t in LISTED_TYPES)]:
            SyncStatus.objects.get_or_create(object_type=key)
        return super().changelist_view(request, extra_context)

    @admin.display(description="object type", ordering="object_type")
    def type_label(self, obj: SyncStatus) -> str:
        if obj.object_type == EVENTS_KEY:
            return "Events (incremental, every minute)"
        ot = BY_KEY.get(obj.object_type)
        if ot:
            return ot.label
        if (part := slice_of(obj.object_type)) and part[0] in BY_KEY:
            start, end = (_day(moment) for moment in part[1])
            return f"{BY_KEY[part[0]].label}, created {start} to {end} (a slice)"
        return obj.object_type

    @admin.display(description="behind Stripe by")
    def behind_stripe(self, obj: SyncStatus) -> str:
        """How old the newest state the mirror is sure to hold is."""
        return _ago(obj.synced_through)

    @admin.display(description="duration")
    def duration(self, obj: SyncStatus) -> str:
        if obj.last_run_duration is None:
            return "-"
        return f"{obj.last_run_duration.total_seconds():.1f} s"

    @admin.display(description="backfill")
    def backfill_state(self, obj: SyncStatus) -> str:
        if obj.object_type == EVENTS_KEY:
            return "-"
        if obj.backfill_started_at is None:
            return "not run"
        if obj.backfill_finished_at is None:
            slices = SyncStatus.objects.filter(object_type__startswith=f"{obj.object_type}@")
            if slice_of(obj.object_type) is None and slices.exists():
                done = slices.filter(backfill_finished_at__isnull=False).count()
                objects = slices.aggregate(n=Sum("backfill_objects"))["n"] or 0
                return (
                    f"in progress: {done} of {slices.count()} slices read, {objects} objects so far"
                )
            return f"in progress: {obj.backfill_objects} objects so far"
        return f"done: {obj.backfill_objects} objects"

    @admin.action(description="Sync now", permissions=["run_stripe_sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[SyncStatus]) -> None:
        self._enqueue(request, queryset, restart=False)

    @admin.action(description="Backfill again from the first page", permissions=["run_stripe_sync"])
    def backfill_from_scratch(self, request: HttpRequest, queryset: QuerySet[SyncStatus]) -> None:
        self._enqueue(request, queryset, restart=True)

    def _enqueue(self, request: HttpRequest, queryset: QuerySet[SyncStatus], restart: bool) -> None:
        if _refused_without_stripe(self, request):
            return
        keys = list(queryset.values_list("object_type", flat=True))
        for key in keys:
            if key == EVENTS_KEY:
                enqueue(stripe_events_sync_task)
            elif key in BY_KEY and BY_KEY[key].list_path:
                enqueue(stripe_backfill_split_task, key, restart)
            elif (part := slice_of(key)) is not None and not restart:
                enqueue(stripe_backfill_slice_task, part[0], *part[1])
        self.message_user(request, f"Sync queued for: {', '.join(keys)}.", messages.SUCCESS)


class EventKindFilter(admin.SimpleListFilter):
    """Finance's way in to the events that need them: usage Stripe could not bill."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("failed_usage", "Failed usage (meter errors)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "failed_usage":
            return queryset.filter(type__in=METER_ERROR_TYPES)
        return queryset


@admin.register(StripeEvent)
class StripeEventAdmin(SyncRecordAdmin):
    list_display = ("stripe_id", "type", "created", "source", "status", "attempts", "last_error")
    list_filter = (EventKindFilter, "status", "source", "object_type")
    search_fields = ("=stripe_id", "=object_id", "type")
    readonly_fields = [f.name for f in StripeEvent._meta.fields]
    actions = ("retry",)
    show_full_result_count = False
    date_hierarchy = "created"

    @admin.action(description="Retry the selected events", permissions=["run_stripe_sync"])
    def retry(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        if _refused_without_stripe(self, request):
            return
        ids = list(
            queryset.exclude(
                status__in=[StripeEvent.Status.PROCESSED, StripeEvent.Status.REFUSED]
            ).values_list("pk", flat=True)
        )
        queryset.filter(pk__in=ids).update(status=StripeEvent.Status.PENDING)
        for pk in ids:
            enqueue(stripe_event_process_task, pk)
        self.message_user(request, f"{len(ids)} event(s) queued again.", messages.SUCCESS)


class OutboxStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("waiting", "Waiting for the broker"),
            ("stuck", f"Stuck (waiting more than {STUCK_AFTER.seconds // 60} min)"),
            ("published", "Published"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "waiting":
            return queryset.filter(published_at__isnull=True)
        if self.value() == "stuck":
            return queryset.filter(
                published_at__isnull=True, created_at__lt=timezone.now() - STUCK_AFTER
            )
        if self.value() == "published":
            return queryset.filter(published_at__isnull=False)
        return queryset


@admin.register(OutboxTask)
class OutboxTaskAdmin(SyncRecordAdmin):
    """The tasks written with the changes that asked for them (writes to Stripe, checks):
    published to the broker after commit, or waiting for it (down, or not answering)."""

    list_display = ("created_at", "task", "arguments", "state", "attempts", "last_error")
    list_filter = (OutboxStateFilter,)
    search_fields = ("task",)
    actions = ("publish_now",)
    show_full_result_count = False

    @admin.display(description="arguments")
    def arguments(self, obj: OutboxTask) -> str:
        return ", ".join(str(a) for a in obj.args)[:120]

    @admin.display(description="state")
    def state(self, obj: OutboxTask) -> str:
        if obj.published_at is not None:
            return f"published ({_ago(obj.published_at)} ago)"
        waited = _ago(obj.created_at)
        if timezone.now() - obj.created_at > STUCK_AFTER:
            return f"stuck: waiting {waited}"
        return f"waiting {waited}"

    @admin.action(description="Publish the selected tasks now", permissions=["run_stripe_sync"])
    def publish_now(self, request: HttpRequest, queryset: QuerySet[OutboxTask]) -> None:
        ids = list(queryset.filter(published_at__isnull=True).values_list("pk", flat=True))
        done = sum(1 for pk in ids if publish(pk))
        level = messages.SUCCESS if done == len(ids) else messages.WARNING
        self.message_user(
            request,
            f"{done} of {len(ids)} waiting task(s) published"
            + ("." if done == len(ids) else "; the broker did not take the rest (see the error)."),
            level,
        )


# --- What was sent to Stripe for a record (the account, contract, tax rate and invoice pages)


def refused_while_disconnected(modeladmin: Any, request: HttpRequest) -> bool:
    """ "Send to Stripe now" with no Stripe account connected: say so; nothing is queued."""
    if stripe_connected():
        return False
    modeladmin.message_user(
        request, "No Stripe account is connected (STRIPE_SECRET_KEY).", messages.ERROR
    )
    return True


def stripe_writes_table(writes: QuerySet[StripeWrite]) -> str:
    """The latest writes to Stripe for a record: what, when, outcome, Stripe id, error."""
    rows = list(writes.order_by("-created_at", "-id")[:20])
    if not rows:
        return "Nothing sent to Stripe yet."
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                timezone.localtime(w.updated_at).strftime("%Y-%m-%d %H:%M:%S"),
                w.description,
                w.get_outcome_display(),
                w.stripe_id or "-",
                w.attempts,
                w.error or "",
            )
            for w in rows
        ),
    )
    return format_html(
        "<table><thead><tr><th>when</th><th>what</th><th>outcome</th><th>Stripe id</th>"
        "<th>attempts</th><th>Stripe's message</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


# --- dj-stripe's own mirror screens

# dj-stripe 2.11 keeps most fields in `stripe_data`; its admin still searches columns that no
# longer exist on Customer and Invoice, which answers a server error. Search these instead.
MIRROR_SEARCH = {
    djstripe_models.Customer: ("=id", "email", "stripe_data__name"),
    djstripe_models.Invoice: ("=id", "=customer__id", "stripe_data__number"),
    djstripe_models.Subscription: ("=id", "=customer__id"),
    djstripe_models.Charge: ("=id", "=customer__id"),
}
# Searched with exact matches, each an indexed query of its own: an id or number is typed
# whole, and the admin's default (UPPER(...) = UPPER(...) OR ...) read all 100,000 invoices
# (1.5 s). Other models keep the admin's search.
MIRROR_EXACT_SEARCH = {
    djstripe_models.Invoice: ("id", "customer__id", "stripe_data__number"),
}
# dj-stripe's sync actions go through its own sync code, which stores the secret key.
_DJSTRIPE_SYNC_ACTIONS = ("_resync_instances", "_sync_all_instances")


def _searchable(model: Any, lookup: str) -> bool:
    path = lookup.lstrip("=^@").split("__")
    try:
        field = model._meta.get_field(path[0])
    except FieldDoesNotExist:
        return False
    if len(path) > 1 and field.is_relation:
        return _searchable(field.related_model, "__".join(path[1:]))
    return True


def _exact_search(model: Any, lookups: tuple[str, ...]) -> Any:
    def search(request: HttpRequest, queryset: QuerySet[Any], term: str) -> tuple[Any, bool]:
        term = term.strip()
        if not term:
            return queryset, False
        pks: set[Any] = set()
        for lookup in lookups:
            pks.update(model.objects.filter(**{lookup: term}).values_list("pk", flat=True)[:1000])
        return queryset.filter(pk__in=pks), False

    return search


def _shown_safely(name: str) -> Any:
    """A property of a dj-stripe model as its object page shows it: the payload's field, or
    "-" when the payload has none (Stripe dropped `paid` from invoices; an older or smaller
    payload lacks others). dj-stripe's page lists every property, and one KeyError was a 500."""

    def show(obj: Any) -> Any:
        try:
            return getattr(obj, name)
        except (KeyError, TypeError, ValueError, AttributeError):
            return "-"

    show.short_description = name.replace("_", " ")  # type: ignore[attr-defined]
    return show


@admin.action(description="Re-read the selected objects from Stripe")
def mirror_refresh(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    if _refused_without_stripe(modeladmin, request):
        return
    ot = BY_MODEL[queryset.model]
    ids = list(queryset.values_list("id", flat=True)[:500])
    enqueue(stripe_object_refresh_task, ot.key, ids)
    modeladmin.message_user(request, f"{len(ids)} object(s) will be re-read from Stripe.")


def mirror_admin_fix(site: admin.AdminSite) -> None:
    """Make dj-stripe's registered admins safe: working search, no key-storing sync actions,
    no API key screen at all."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != "djstripe":
            continue
        if model is djstripe_models.APIKey:
            site.unregister(model)
            continue
        wanted = MIRROR_SEARCH.get(model, model_admin.search_fields)
        searchable = tuple(f for f in wanted if _searchable(model, f))
        model_admin.search_fields = searchable  # type: ignore[misc]
        # dj-stripe's get_search_fields adds "id" again, which is what fails on some models.
        model_admin.get_search_fields = lambda request, fields=searchable: fields  # type: ignore[method-assign,misc]
        if model in MIRROR_EXACT_SEARCH:
            model_admin.get_search_results = _exact_search(model, MIRROR_EXACT_SEARCH[model])  # type: ignore[method-assign]
        model_admin.actions = (
            (mirror_refresh,) if model in BY_MODEL and BY_MODEL[model].retrieve_path else ()
        )
        original = model_admin.get_actions

        def get_actions(request: HttpRequest, original: Any = original) -> Any:
            actions = original(request)
            for name in _DJSTRIPE_SYNC_ACTIONS:
                actions.pop(name, None)
            return actions

        model_admin.get_actions = get_actions  # type: ignore[method-assign]
        # The admin's attribute of a readonly field's name is shown before the model's.
        for name in dir(model):
            if isinstance(getattr(model, name, None), property) and not hasattr(model_admin, name):
                setattr(model_admin, name, _shown_safely(name))
        if isinstance(model_admin, StripeModelAdmin):
            # A mirror: changes come from Stripe, never typed here (superusers included).
            model_admin.has_add_permission = _never
            model_admin.has_change_permission = _never
            model_admin.get_fieldsets = _payload_folded(model_admin.get_fieldsets)


def _never(*args: Any, **kwargs: Any) -> bool:
    return False


def _payload_folded(get_fieldsets: Any) -> Any:
    """An object page with Stripe's payload (stripe_data) last and folded, under a heading
    that says its amounts are minor units: the page's own fields show them as people read
    them."""

    def folded(request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = get_fieldsets(request, obj)
        if obj is None:
            return list(fieldsets)
        kept = [
            (title, {**options, "fields": [f for f in options["fields"] if f != "stripe_data"]})
            for title, options in fieldsets
        ]
        return [
            *kept,
            (
                "What Stripe sent",
                {
                    "fields": ["stripe_data"],
                    "classes": ["collapse"],
                    "description": "Stripe's own record of the object, as it came: its "
                    "amounts are integers in the currency's minor unit (cents, yen, fils).",
                },
            ),
        ]

    return folded


mirror_admin_fix(admin.site)
