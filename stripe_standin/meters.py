"""Billing meters in the stand-in: meters, the usage events sent to them, their corrections,
what they bill, and the error reports Stripe sends about events it could not apply.

Served by server.py:

- `POST /v1/billing/meters`, `GET /v1/billing/meters[/{id}]`: a meter takes the customer from
  the payload key `stripe_customer_id` and the value from `value` unless `customer_mapping` and
  `value_settings` say otherwise; `default_aggregation[formula]` is `sum`, `count` or `last`.
- `POST /v1/billing/meter_events`: one usage event, answered as `billing.meter_event`.
- `POST /v1/billing/meter_event_adjustments`: `type=cancel`, `cancel[identifier]`.
- `GET /v1/billing/meters/{id}/event_summaries`: `billing.meter_event_summary` objects, one for
  the whole range or one per `value_grouping_window` (`hour`, `day`), newest first.
- `GET /v2/core/events[/{id}]`: the thin events reporting meter events that could not be
  applied; each is also sent, signed, to the webhooks registered with localstripe.

What Stripe documents, and the stand-in does (docs.stripe.com/api/billing/meter-event/create,
/billing/subscriptions/usage-based/recording-usage-api, /api/billing/meter-event-adjustment,
/api/billing/meter-event-summary/list, /api/v2/core/events/object):

- A meter event is refused at once (400, `param` naming the field) when `event_name` or
  `payload` is missing, `event_name` or `identifier` is longer than 100 characters, the
  `timestamp` is more than 35 days back or more than 5 minutes ahead, or the value is not a whole
  number ("only accepts whole number values"; more than 15 digits is refused since API version
  2026-04-22). Negative whole numbers are accepted: Stripe's way to correct usage besides
  cancelling ("Fix incorrect usage data"); a period's total may be negative in a summary, and
  Stripe bills a negative total as quantity 0.
- What Stripe finds only while processing (no meter has the `event_name`, the payload lacks the
  customer key, the customer does not exist, a sum or last meter gets no value) is accepted with
  200 and then reported: `v1.billing.meter.no_meter_found` (code `no_meter`) or
  `v1.billing.meter.error_report_triggered` (codes `meter_event_no_customer_defined`,
  `meter_event_customer_not_found`, `meter_event_invalid_value`), with `sample_errors` naming the
  event's identifier. Such an event never counts.
- An adjustment cancels only an event received in the last 24 hours; a cancelled event no longer
  counts. Summaries take `start_time` and `end_time` on minute boundaries (hour or UTC day
  boundaries with `value_grouping_window`), start included, end excluded.

Choices where Stripe's docs are silent (say so if Stripe is found to differ):

- An `identifier` received again within 24 hours is refused with 400 naming `identifier` (Stripe
  says only that it "will enforce uniqueness within a rolling period of at least 24 hours"). The
  same request sent again with the same `Idempotency-Key` is instead answered with the first
  answer, by server.py, as Stripe does for any POST.
- "35 calendar days" is taken as 35 x 24 hours; an unknown identifier or one received more than
  24 hours ago is refused with 400 naming `cancel[identifier]`; an unknown `customer` in a summary
  request is refused as `resource_missing`; every window of a summary list is answered, empty
  ones with 0. Error messages other than the one quoted in Stripe's example are the stand-in's.

Simplified: events are applied when received, so summaries are at once what Stripe's are once it
has processed them, and adjustments answer `status: "complete"` (Stripe: `pending` until
processed). Each failed event is its own error report, sent when received, with a one-second
validation window (Stripe groups a meter's errors over a window). Thin events go to the webhooks
registered with localstripe, as v1 events do (Stripe sends them to event destinations set up for
thin events). The v2 event list takes `object_id`, `types`, `limit` and `page`, not `created`.
Meters cannot be deactivated, and `event_time_window` is refused as not implemented.
"""

import asyncio
import copy
import hashlib
import re
import secrets
import string
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localstripe import resources
from localstripe.webhooks import schedule_webhook

from stripe_standin.store import (
    _LIST_PARAMS,
    STORE,
    Obj,
    StripeError,
    _check_params,
    _choice,
    _dict,
    _int,
    _missing,
    _name,
    _no_such,
    _now,
    _only_one_of,
    _string,
    expand_list,
    export,
    list_object,
    new_id,
    public_copy,
    stripe_fixture,
)

DAY_SECONDS = 86_400
BACKDATING_LIMIT_SECONDS = 35 * DAY_SECONDS  # "within the past 35 calendar days"
CLOCK_DRIFT_SECONDS = 5 * 60  # "up to 5 minutes in the future"
IDENTIFIER_UNIQUE_SECONDS = DAY_SECONDS  # "uniqueness within a rolling period of at least 24 hours"
CANCEL_WINDOW_SECONDS = DAY_SECONDS  # "You can only cancel events within 24 hours"
MAX_NAME_LENGTH = 100
MAX_VALUE_DIGITS = 15
FORMULAS = ("sum", "count", "last")

# --- Meters ---------------------------------------------------------------------------------

_METER_CREATE_PARAMS = frozenset(
    """
    customer_mapping default_aggregation display_name event_name event_time_window
    value_settings
    """.split()
)


def _required(params: Obj, name: str, prefix: str = "") -> Any:
    if params.get(name) in (None, ""):
        raise _missing(_name(prefix, name))
    return params[name]


def _short_string(params: Obj, name: str, prefix: str = "") -> str:
    """A required string of at most 100 characters (event names, identifiers)."""
    value = _string(_required(params, name, prefix), _name(prefix, name))
    if len(value) > MAX_NAME_LENGTH:
        raise StripeError(
            400,
            f"Invalid {name}: must be at most {MAX_NAME_LENGTH} characters.",
            param=_name(prefix, name),
        )
    return value


def _payload_key_setting(params: Obj, name: str, extra: tuple[str, ...] = ()) -> Obj:
    setting = _dict(params[name], name)
    _check_params(setting, ("event_payload_key", *extra), prefix=name)
    key = _required(setting, "event_payload_key", name)
    return {"event_payload_key": _string(key, _name(name, "event_payload_key"))}


def meter_create(params: Obj) -> Obj:
    _check_params(params, _METER_CREATE_PARAMS, unsupported={"event_time_window"})
    display_name = _string(_required(params, "display_name"), "display_name")
    event_name = _short_string(params, "event_name")
    if any(m["event_name"] == event_name for m in STORE.all("billing.meter")):
        raise StripeError(
            400, f"A meter with event_name {event_name!r} already exists.", param="event_name"
        )
    aggregation = _dict(_required(params, "default_aggregation"), "default_aggregation")
    _check_params(aggregation, {"formula"}, prefix="default_aggregation")
    formula = _choice(
        _required(aggregation, "formula", "default_aggregation"),
        "default_aggregation[formula]",
        FORMULAS,
    )
    customer_mapping = {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    if "customer_mapping" in params:
        customer_mapping = _payload_key_setting(params, "customer_mapping", ("type",))
        mapping_type = _required(params["customer_mapping"], "type", "customer_mapping")
        customer_mapping["type"] = _choice(mapping_type, "customer_mapping[type]", ("by_id",))
    value_settings = {"event_payload_key": "value"}
    if "value_settings" in params:
        value_settings = _payload_key_setting(params, "value_settings")
    meter = stripe_fixture("billing.meter")
    now = _now()
    meter.update(
        id=new_id("billing.meter"),
        created=now,
        updated=now,
        livemode=False,
        display_name=display_name,
        event_name=event_name,
        default_aggregation={"formula": formula},
        customer_mapping=customer_mapping,
        value_settings=value_settings,
        event_time_window=None,
        status="active",
        status_transitions={"deactivated_at": None},
    )
    STORE.put(meter)
    return public_copy(meter)


def meter_retrieve(meter_id: str, params: Obj) -> Obj:
    _check_params(params, {"expand"})
    return export(STORE.get("billing.meter", meter_id), expand_list(params.get("expand")))


def meter_list(params: Obj) -> Obj:
    _check_params(params, _LIST_PARAMS | {"status"})
    filters = []
    if "status" in params:
        status = _choice(params["status"], "status", ("active", "inactive"))
        filters.append(lambda meter: meter["status"] == status)
    return list_object(
        STORE.all("billing.meter"),
        params,
        url="/v1/billing/meters",
        object_name="billing.meter",
        filters=filters,
    )


def _active_meter(event_name: str) -> Obj | None:
    return next(
        (
            meter
            for meter in STORE.all("billing.meter")
            if meter["event_name"] == event_name and meter["status"] == "active"
        ),
        None,
    )


# --- Meter events ---------------------------------------------------------------------------


@dataclass
class RecordedEvent:
    """A meter event as received, what it counts for, and whether an adjustment cancelled it."""

    identifier: str
    event_name: str
    payload: dict[str, str]
    timestamp: int  # when the usage happened, Unix seconds
    received: int  # when the stand-in received it, Unix seconds on the stand-in's clock
    meter_id: str | None = None  # None: not applied (reported as an error instead)
    customer: str | None = None
    value: int = 0  # in the meter's unit, as sent
    canceled: bool = False


@dataclass
class MeterLedger:
    """The meter events received (in the order received) and the v2 events reporting errors."""

    meter_events: list[RecordedEvent] = field(default_factory=list)
    core_events: list[Obj] = field(default_factory=list)

    def clear(self) -> None:
        self.meter_events.clear()
        self.core_events.clear()


LEDGER = MeterLedger()

_METER_EVENT_PARAMS = frozenset({"event_name", "identifier", "payload", "timestamp"})
_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")


def _usage_value(payload: dict[str, str], key: str) -> int | None:
    """The payload's value under `key`, a whole number (negative ones correct usage)."""
    if key not in payload:
        return None
    name, raw = f"payload[{key}]", payload[key]
    if not _WHOLE_NUMBER.match(raw):
        raise StripeError(400, f"Invalid {name}: {raw!r} is not a whole number.", param=name)
    if len(raw.lstrip("-").lstrip("0")) > MAX_VALUE_DIGITS:
        raise StripeError(
            400,
            f"The value in the event payload can have at most {MAX_VALUE_DIGITS} digits. "
            f"Received {raw}.",
            param=name,
        )
    return int(raw)


def _timestamp_in_window(params: Obj, now: int) -> int:
    if params.get("timestamp") in (None, ""):
        return now
    timestamp = _int(params["timestamp"], "timestamp")
    if timestamp < now - BACKDATING_LIMIT_SECONDS:
        raise StripeError(
            400,
            f"Invalid timestamp: {timestamp} is more than 35 days in the past. A meter event's "
            "timestamp must be within the past 35 calendar days.",
            param="timestamp",
        )
    if timestamp > now + CLOCK_DRIFT_SECONDS:
        raise StripeError(
            400,
            f"Invalid timestamp: {timestamp} is more than 5 minutes in the future.",
            param="timestamp",
        )
    return timestamp


def _received_within(identifier: str, seconds: int, now: int) -> RecordedEvent | None:
    """The latest event received with `identifier` in the last `seconds`, if any."""
    for event in reversed(LEDGER.meter_events):
        if event.identifier == identifier and now - event.received <= seconds:
            return event
    return None


def meter_event_create(params: Obj) -> Obj:
    _check_params(params, _METER_EVENT_PARAMS)
    event_name = _short_string(params, "event_name")
    payload = _dict(_required(params, "payload"), "payload")
    for key, item in payload.items():
        _string(item, f"payload[{key}]")
    identifier = str(uuid.uuid4())
    if params.get("identifier") not in (None, ""):
        identifier = _short_string(params, "identifier")
    now = _now()
    timestamp = _timestamp_in_window(params, now)
    meter = _active_meter(event_name)
    value_key = meter["value_settings"]["event_payload_key"] if meter else "value"
    value = _usage_value(payload, value_key)
    if _received_within(identifier, IDENTIFIER_UNIQUE_SECONDS, now):
        # A choice: Stripe documents the uniqueness, not its answer to a second event.
        raise StripeError(
            400,
            f"A meter event with identifier '{identifier}' was already received in the last "
            "24 hours; it is counted once.",
            param="identifier",
        )
    event = RecordedEvent(identifier, event_name, dict(payload), timestamp, received=now)
    _apply(event, meter, value)
    LEDGER.meter_events.append(event)
    answer = stripe_fixture("billing.meter_event")
    answer.update(
        created=now,
        event_name=event_name,
        identifier=identifier,
        livemode=False,
        payload=dict(payload),
        timestamp=timestamp,
    )
    return answer


def _apply(event: RecordedEvent, meter: Obj | None, value: int | None) -> None:
    """Counts the event for its meter and customer, or reports why it cannot (as Stripe does
    after accepting it)."""
    if meter is None:
        _report_error(
            event,
            None,
            "no_meter",
            f"No active meter was found for event_name {event.event_name}.",
        )
        return
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    customer = event.payload.get(customer_key)
    if not customer:
        _report_error(
            event,
            meter,
            "meter_event_no_customer_defined",
            f"Customer mapping key {customer_key} not found in payload.",
        )
    elif resources.store.get("customer:" + customer) is None:
        _report_error(
            event, meter, "meter_event_customer_not_found", f"Customer {customer} not found."
        )
    elif value is None and meter["default_aggregation"]["formula"] != "count":
        _report_error(
            event,
            meter,
            "meter_event_invalid_value",
            f"Value key {value_key} not found in payload.",
        )
    else:
        event.meter_id, event.customer, event.value = meter["id"], customer, value or 0


# --- Adjustments ----------------------------------------------------------------------------

_ADJUSTMENT_PARAMS = frozenset({"cancel", "event_name", "type"})


def meter_event_adjustment_create(params: Obj) -> Obj:
    _check_params(params, _ADJUSTMENT_PARAMS)
    event_name = _short_string(params, "event_name")
    _choice(_required(params, "type"), "type", ("cancel",))
    cancel = _dict(_required(params, "cancel"), "cancel")
    _check_params(cancel, {"identifier"}, prefix="cancel")
    identifier = _short_string(cancel, "identifier", "cancel")
    event = next(
        (
            e
            for e in reversed(LEDGER.meter_events)
            if e.identifier == identifier and e.event_name == event_name
        ),
        None,
    )
    if event is None:
        raise StripeError(
            400,
            f"No meter event with identifier '{identifier}' was received for event_name "
            f"{event_name}.",
            param="cancel[identifier]",
            code="resource_missing",
        )
    if _now() - event.received > CANCEL_WINDOW_SECONDS:
        raise StripeError(
            400,
            f"The meter event with identifier '{identifier}' was received more than 24 hours "
            "ago; only events received within the last 24 hours can be cancelled.",
            param="cancel[identifier]",
        )
    event.canceled = True  # a second cancel of the same event changes nothing
    adjustment = stripe_fixture("billing.meter_event_adjustment")
    adjustment.update(
        cancel={"identifier": identifier},
        event_name=event_name,
        livemode=False,
        status="complete",  # applied at once; Stripe answers "pending" until it has processed it
        type="cancel",
    )
    return adjustment


# --- What a meter bills ---------------------------------------------------------------------


def aggregated_value(meter_id: str, customer: str, start: int, end: int) -> int:
    """What the meter bills the customer for [start, end): its formula over the events not
    canceled (timestamps in Unix seconds, start included, end not).

    In the meter's unit. A sum may be negative after negative corrections; Stripe bills a
    negative total for a period as quantity 0.
    """
    formula = STORE.get("billing.meter", meter_id)["default_aggregation"]["formula"]
    counted = [
        event
        for event in LEDGER.meter_events
        if event.meter_id == meter_id
        and event.customer == customer
        and not event.canceled
        and start <= event.timestamp < end
    ]
    if formula == "count":
        return len(counted)
    if formula == "last":
        # The value of the latest usage; of two at the same second, the one received last.
        return max(reversed(counted), key=lambda e: e.timestamp).value if counted else 0
    return sum(event.value for event in counted)


_SUMMARY_PARAMS = frozenset(
    """
    customer end_time ending_before expand limit start_time starting_after value_grouping_window
    """.split()
)
_GROUPING_SECONDS = {"hour": 3600, "day": DAY_SECONDS}
_BOUNDARY_NAMES = {60: "minute", 3600: "hour", DAY_SECONDS: "UTC day"}


def _summary_id(meter_id: str, customer: str, start: int, end: int) -> str:
    # The same window has the same id, so that `starting_after` finds it again.
    digest = hashlib.sha256(f"{meter_id}|{customer}|{start}|{end}".encode()).hexdigest()
    return "mtrusg_test_" + digest[:48]


def event_summary_list(meter_id: str, params: Obj) -> Obj:
    _check_params(params, _SUMMARY_PARAMS)
    STORE.get("billing.meter", meter_id)
    customer = _string(_required(params, "customer"), "customer")
    if resources.store.get("customer:" + customer) is None:
        raise _no_such("customer", customer, param="customer")
    start = _int(_required(params, "start_time"), "start_time", minimum=0)
    end = _int(_required(params, "end_time"), "end_time", minimum=0)
    step = None
    if params.get("value_grouping_window") is not None:
        grouping = _choice(
            params["value_grouping_window"], "value_grouping_window", tuple(_GROUPING_SECONDS)
        )
        step = _GROUPING_SECONDS[grouping]
    boundary = step or 60
    for name, value in (("start_time", start), ("end_time", end)):
        if value % boundary:
            raise StripeError(
                400,
                f"Invalid {name}: must be aligned with {_BOUNDARY_NAMES[boundary]} boundaries.",
                param=name,
            )
    if start >= end:
        raise StripeError(400, "Invalid end_time: must be after start_time.", param="end_time")
    windows = [(s, s + step) for s in range(start, end, step)] if step else [(start, end)]
    windows.reverse()  # newest first, as Stripe lists them
    page, has_more = _page([_summary_id(meter_id, customer, *w) for w in windows], windows, params)
    data = []
    for window_start, window_end in page:
        summary = stripe_fixture("billing.meter_event_summary")
        summary.update(
            id=_summary_id(meter_id, customer, window_start, window_end),
            aggregated_value=aggregated_value(meter_id, customer, window_start, window_end),
            start_time=window_start,
            end_time=window_end,
            livemode=False,
            meter=meter_id,
        )
        data.append(summary)
    listed = {
        "object": "list",
        "url": f"/v1/billing/meters/{meter_id}/event_summaries",
        "has_more": has_more,
        "data": data,
    }
    return listed


def _page(
    ids: list[str], windows: list[tuple[int, int]], params: Obj
) -> tuple[list[tuple[int, int]], bool]:
    """One page of Stripe's list over `windows` (newest first): `limit`, the cursors."""
    limit = _int(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise StripeError(
            400,
            "Invalid limit: must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise _only_one_of("ending_before", "starting_after")
    for param, cursor in (("starting_after", after), ("ending_before", before)):
        if cursor and cursor not in ids:
            raise _no_such("meter_event_summary", cursor, param=param)
    if after:
        rest = windows[ids.index(after) + 1 :]
        return rest[:limit], len(rest) > limit
    if before:
        rest = windows[: ids.index(before)]
        return rest[-limit:], len(rest) > limit
    return windows[:limit], len(windows) > limit


# --- Error reports: v2 thin events ----------------------------------------------------------


def _iso(timestamp: int) -> str:
    """A v2 timestamp: RFC 3339 in UTC with milliseconds, as in Stripe's v2 events."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _core_event_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "evt_test_" + "".join(secrets.choice(alphabet) for _ in range(46))


def _report_error(event: RecordedEvent, meter: Obj | None, code: str, message: str) -> None:
    """Stripe's error report about one meter event: kept for `GET /v2/core/events` and sent,
    thin, to the webhooks."""
    full: Obj = {
        "id": _core_event_id(),
        "object": "v2.core.event",
        "context": None,
        "created": _iso(event.received),
        "data": {
            "developer_message_summary": "There is 1 invalid event",
            "reason": {
                "error_count": 1,
                "error_types": [
                    {
                        "code": code,
                        "error_count": 1,
                        "sample_errors": [
                            {
                                "error_message": message,
                                "request": {"identifier": event.identifier},
                            }
                        ],
                    }
                ],
            },
            "validation_end": _iso(event.received + 1),
            "validation_start": _iso(event.received),
        },
        "livemode": False,
        "reason": None,
        "type": "v1.billing.meter.no_meter_found",
    }
    if meter is not None:
        full["type"] = "v1.billing.meter.error_report_triggered"
        full["related_object"] = {
            "id": meter["id"],
            "type": "billing.meter",
            "url": f"/v1/billing/meters/{meter['id']}",
        }
    LEDGER.core_events.append(full)
    _deliver({key: value for key, value in full.items() if key != "data"})


class _ThinDelivery:
    """What localstripe's webhook sender takes: `type`, `created` (the signature's `t`, in real
    Unix seconds, which receivers check against their clock) and `_export()`."""

    def __init__(self, thin: Obj) -> None:
        self.type = thin["type"]
        self.created = int(time.time())
        self._thin = thin

    def _export(self, expand: Any = None) -> Obj:
        return copy.deepcopy(self._thin)


def _deliver(thin: Obj) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # outside the server (this module used directly): kept, not delivered
    schedule_webhook(_ThinDelivery(thin))


_CORE_EVENT_LIST_PARAMS = frozenset({"created", "limit", "object_id", "page", "types"})


def core_event_retrieve(event_id: str, params: Obj) -> Obj:
    _check_params(params, ())
    for event in LEDGER.core_events:
        if event["id"] == event_id:
            return copy.deepcopy(event)
    raise StripeError(404, f"No such event: '{event_id}'", param="id", code="resource_missing")


def core_event_list(params: Obj) -> Obj:
    """Newest first; `page` is the token of `next_page_url`."""
    _check_params(params, _CORE_EVENT_LIST_PARAMS, unsupported={"created"})
    types = params.get("types") or []
    types = [types] if isinstance(types, str) else [_string(t, "types") for t in types]
    object_id = params.get("object_id")
    limit = _int(params.get("limit", 20), "limit", minimum=1)
    page = _string(params.get("page", "page_0"), "page")
    if not re.fullmatch(r"page_[0-9]+", page):
        raise StripeError(400, f"Invalid page: {page}", param="page")
    offset = int(page.removeprefix("page_"))
    matching = [
        event
        for event in reversed(LEDGER.core_events)
        if (not types or event["type"] in types)
        and (object_id is None or (event.get("related_object") or {}).get("id") == object_id)
    ]
    next_page_url = None
    if len(matching) > offset + limit:
        query = [("limit", str(limit)), ("page", f"page_{offset + limit}")]
        query += [("types", t) for t in types]
        if object_id is not None:
            query.append(("object_id", object_id))
        next_page_url = "/v2/core/events?" + urllib.parse.urlencode(query)
    return {
        "data": copy.deepcopy(matching[offset : offset + limit]),
        "next_page_url": next_page_url,
        "previous_page_url": None,
    }
