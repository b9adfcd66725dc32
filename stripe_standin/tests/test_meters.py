"""Billing meters in the stand-in, used through stripe-python as our code uses them: usage events
counted once, corrected by cancelling or by negative usage, refused as Stripe refuses them,
summed per window, and the error reports Stripe sends about events it could not apply.
"""

import json
import queue
import time
from typing import Any

import pytest
import stripe
from django.conf import settings

from stripe_standin.control import STANDIN_WEBHOOK_SECRET, standin_config

pytestmark = pytest.mark.django_db

DAY = 86_400
HOUR = 3_600


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def now() -> int:
    return int(time.time())


def last_midnight() -> int:
    """The start of today, UTC, in Unix seconds."""
    return now() // DAY * DAY


@pytest.fixture
def customer(stripe_standin: str) -> stripe.Customer:
    return stripe.Customer.create(name="Bergmann Logistik GmbH", **key())


@pytest.fixture
def meter(stripe_standin: str) -> stripe.billing.Meter:
    return stripe.billing.Meter.create(
        display_name="Tracked shipments",
        event_name="tracked_shipments",
        default_aggregation={"formula": "sum"},
        **key(),
    )


def record(
    customer: stripe.Customer,
    value: str | int,
    *,
    identifier: str | None = None,
    timestamp: int | None = None,
    event_name: str = "tracked_shipments",
    **options: Any,
) -> stripe.billing.MeterEvent:
    extra: dict[str, Any] = {}
    if identifier is not None:
        extra["identifier"] = identifier
    if timestamp is not None:
        extra["timestamp"] = timestamp
    return stripe.billing.MeterEvent.create(
        event_name=event_name,
        payload={"stripe_customer_id": customer.id, "value": str(value)},
        **extra,
        **options,
        **key(),
    )


def usage(meter: stripe.billing.Meter, customer: stripe.Customer) -> int:
    """What the meter records for the customer over the last 35 days, through Stripe's API."""
    (summary,) = stripe.billing.Meter.list_event_summaries(
        meter.id,
        customer=customer.id,
        start_time=last_midnight() - 35 * DAY,
        end_time=last_midnight() + 2 * DAY,  # usage may be dated 5 minutes ahead
        **key(),
    ).data
    return int(summary.aggregated_value)


def move_clock(stripe_standin: str, seconds: int) -> None:
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": seconds})


# --- Meters ---------------------------------------------------------------------------------


def test_meter_takes_stripes_default_payload_keys_and_reads_back(meter):
    # when a meter is created without payload keys, then read back
    fetched = stripe.billing.Meter.retrieve(meter.id, **key())

    # then it is active and reads the customer and the value where Stripe's defaults say
    assert fetched.id == meter.id
    assert fetched.status == "active"
    assert fetched.customer_mapping.to_dict() == {
        "event_payload_key": "stripe_customer_id",
        "type": "by_id",
    }
    assert fetched.value_settings.to_dict() == {"event_payload_key": "value"}
    assert fetched.default_aggregation.formula == "sum"

    # and a meter that does not exist is Stripe's resource_missing
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.billing.Meter.retrieve("mtr_doesnotexist", **key())
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"


def test_meter_with_its_own_payload_keys_counts_events_under_them(customer):
    # given a meter reading the customer from `account` and the value from `shipments`
    meter = stripe.billing.Meter.create(
        display_name="Shipments",
        event_name="shipments",
        default_aggregation={"formula": "sum"},
        customer_mapping={"event_payload_key": "account", "type": "by_id"},
        value_settings={"event_payload_key": "shipments"},
        **key(),
    )

    # when usage is sent under those keys
    stripe.billing.MeterEvent.create(
        event_name="shipments", payload={"account": customer.id, "shipments": "7"}, **key()
    )

    # then it counts
    assert usage(meter, customer) == 7


# --- Meter events: counted once -------------------------------------------------------------


def test_an_event_sent_twice_with_one_identifier_counts_once(meter, customer):
    # given usage recorded under an identifier
    first = record(customer, 5, identifier="shipments-2030-01-01")
    assert first.identifier == "shipments-2030-01-01"
    assert first.payload.to_dict() == {"stripe_customer_id": customer.id, "value": "5"}

    # when the same identifier comes again (another request: another Idempotency-Key)
    with pytest.raises(stripe.InvalidRequestError) as again:
        record(customer, 5, identifier="shipments-2030-01-01")

    # then it is refused naming the identifier, and the usage counts once
    assert again.value.http_status == 400
    assert again.value.param == "identifier"
    assert usage(meter, customer) == 5


def test_a_retry_with_the_same_idempotency_key_is_answered_again_and_counts_once(meter, customer):
    # given usage sent once with an idempotency key
    first = record(customer, 5, identifier="shipments-a", idempotency_key="usage-a")

    # when the client retries the very same request
    retried = record(customer, 5, identifier="shipments-a", idempotency_key="usage-a")

    # then Stripe's first answer comes back, and nothing is counted twice
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert retried.to_dict() == first.to_dict()
    assert usage(meter, customer) == 5


def test_events_without_identifier_get_one_each_and_all_count(meter, customer):
    # when two events come without identifiers
    one, two = record(customer, 2), record(customer, 3)

    # then each gets its own identifier, and both count
    assert one.identifier
    assert two.identifier
    assert one.identifier != two.identifier
    assert usage(meter, customer) == 5


# --- Corrections ----------------------------------------------------------------------------


def test_cancel_and_resend_leaves_the_corrected_figure(meter, customer):
    # given 50 shipments recorded where 5 were meant
    record(customer, 50, identifier="shipments-wrong")

    # when that event is cancelled and the right figure sent
    adjustment = stripe.billing.MeterEventAdjustment.create(
        event_name="tracked_shipments",
        type="cancel",
        cancel={"identifier": "shipments-wrong"},
        **key(),
    )
    record(customer, 5, identifier="shipments-right")

    # then the meter records 5, and the adjustment is in Stripe's shape
    assert usage(meter, customer) == 5
    assert adjustment.object == "billing.meter_event_adjustment"
    assert adjustment.type == "cancel"
    assert adjustment.cancel.identifier == "shipments-wrong"
    assert adjustment.event_name == "tracked_shipments"
    assert adjustment.status == "complete"


def test_a_negative_event_leaves_the_corrected_figure(meter, customer):
    # given 50 shipments recorded where 5 were meant
    record(customer, 50)

    # when the difference is sent as negative usage
    record(customer, -45)

    # then the meter records 5
    assert usage(meter, customer) == 5


# --- Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "timestamp_from_now", "param"),
    [
        pytest.param("5", -36 * DAY, "timestamp", id="36 days old"),
        pytest.param("5", 10 * 60, "timestamp", id="10 minutes ahead"),
        pytest.param("2.5", 0, "payload[value]", id="a fraction"),
        pytest.param("five", 0, "payload[value]", id="not a number"),
    ],
)
def test_an_event_stripe_would_refuse_is_refused_and_not_counted(
    meter, customer, value, timestamp_from_now, param
):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        record(customer, value, timestamp=now() + timestamp_from_now)

    assert refused.value.http_status == 400
    assert refused.value.param == param
    assert usage(meter, customer) == 0


def test_the_edges_of_the_timestamp_window_are_accepted(meter, customer):
    # when usage is dated 34 days back and 4 minutes ahead (clock drift)
    record(customer, 1, timestamp=now() - 34 * DAY)
    record(customer, 2, timestamp=now() + 4 * 60)

    # then both count
    assert usage(meter, customer) == 3


def test_an_event_without_payload_is_refused(meter):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.billing.MeterEvent.create(event_name="tracked_shipments", **key())
    assert refused.value.param == "payload"
    assert refused.value.code == "parameter_missing"


def test_a_cancel_after_24_hours_is_refused(stripe_standin, meter, customer):
    # given two events received now
    record(customer, 10, identifier="shipments-early")
    record(customer, 20, identifier="shipments-late")

    # when one is cancelled 23 hours later, and the other 25 hours later
    move_clock(stripe_standin, 23 * HOUR)
    stripe.billing.MeterEventAdjustment.create(
        event_name="tracked_shipments",
        type="cancel",
        cancel={"identifier": "shipments-early"},
        **key(),
    )
    move_clock(stripe_standin, 2 * HOUR)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.billing.MeterEventAdjustment.create(
            event_name="tracked_shipments",
            type="cancel",
            cancel={"identifier": "shipments-late"},
            **key(),
        )

    # then only the first is cancelled
    assert refused.value.param == "cancel[identifier]"
    assert usage(meter, customer) == 20


def test_a_cancel_of_an_unknown_identifier_is_refused(meter):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.billing.MeterEventAdjustment.create(
            event_name="tracked_shipments",
            type="cancel",
            cancel={"identifier": "never-sent"},
            **key(),
        )
    assert refused.value.param == "cancel[identifier]"


def test_the_clock_moves_the_35_day_limit(stripe_standin, meter, customer):
    # given usage dated 30 days back, accepted now
    dated = now() - 30 * DAY
    record(customer, 1, timestamp=dated)

    # when the stand-in's clock is a week later, the same date is too old
    move_clock(stripe_standin, 7 * DAY)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        record(customer, 1, timestamp=dated)
    assert refused.value.param == "timestamp"


# --- Summaries ------------------------------------------------------------------------------


def test_summaries_by_day_count_each_day_start_included_end_excluded(meter, customer):
    # given three UTC days, and usage on the first two and at the end of the range
    start = last_midnight() - 3 * DAY
    record(customer, 1, timestamp=start)  # the first second of the range
    record(customer, 3, timestamp=start + HOUR)
    record(customer, 4, timestamp=start + 5 * HOUR)
    record(customer, 10, timestamp=start + DAY + 2 * HOUR)
    record(customer, 100, timestamp=start + 3 * DAY)  # the end: the next range's

    # when the summaries are listed by day
    summaries = stripe.billing.Meter.list_event_summaries(
        meter.id,
        customer=customer.id,
        start_time=start,
        end_time=start + 3 * DAY,
        value_grouping_window="day",
        **key(),
    )

    # then there is one a day, newest first, in Stripe's shape
    assert summaries.object == "list"
    assert summaries.url == f"/v1/billing/meters/{meter.id}/event_summaries"
    assert summaries.has_more is False
    assert [(s.start_time, s.end_time) for s in summaries.data] == [
        (start + 2 * DAY, start + 3 * DAY),
        (start + DAY, start + 2 * DAY),
        (start, start + DAY),
    ]
    assert [s.aggregated_value for s in summaries.data] == [0, 10, 8]
    assert all(s.object == "billing.meter_event_summary" for s in summaries.data)
    assert all(s.meter == meter.id and s.id.startswith("mtrusg_") for s in summaries.data)

    # and they page with Stripe's cursors
    first_page = stripe.billing.Meter.list_event_summaries(
        meter.id,
        customer=customer.id,
        start_time=start,
        end_time=start + 3 * DAY,
        value_grouping_window="day",
        limit=2,
        **key(),
    )
    paged = [s.aggregated_value for s in first_page.auto_paging_iter()]
    assert first_page.has_more is True
    assert paged == [0, 10, 8]


@pytest.mark.parametrize(
    ("start_offset", "grouping", "param"),
    [
        pytest.param(30, None, "start_time", id="not on a minute"),
        pytest.param(HOUR, "day", "start_time", id="not on a UTC day, by day"),
        pytest.param(60, "hour", "start_time", id="not on an hour, by hour"),
    ],
)
def test_summaries_of_a_range_not_on_its_boundaries_are_refused(
    meter, customer, start_offset, grouping, param
):
    start = last_midnight() - 2 * DAY
    extra = {"value_grouping_window": grouping} if grouping else {}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.billing.Meter.list_event_summaries(
            meter.id,
            customer=customer.id,
            start_time=start + start_offset,
            end_time=start + DAY,
            **extra,
            **key(),
        )
    assert refused.value.param == param


def test_count_and_last_meters_aggregate_by_their_formula(customer):
    # given a counting meter and a last-value meter, each sent three events
    counting = stripe.billing.Meter.create(
        display_name="Logins",
        event_name="logins",
        default_aggregation={"formula": "count"},
        **key(),
    )
    latest = stripe.billing.Meter.create(
        display_name="Seats", event_name="seats", default_aggregation={"formula": "last"}, **key()
    )
    for value, seconds_ago in ((4, 300), (9, 100), (6, 200)):
        record(customer, value, event_name="logins", timestamp=now() - seconds_ago)
        record(customer, value, event_name="seats", timestamp=now() - seconds_ago)

    # then one counts the events, the other takes the latest usage
    assert usage(counting, customer) == 3
    assert usage(latest, customer) == 9


# --- Error reports --------------------------------------------------------------------------


def thin_events(deliveries: "queue.Queue[tuple[bytes, str]]", client: stripe.StripeClient) -> Any:
    """The thin events delivered in the next 10 seconds (localstripe sends a second later, and
    events of the test before may come first)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            body, signature = deliveries.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            return
        if json.loads(body).get("object") == "v2.core.event":
            yield body, client.parse_event_notification(body, signature, STANDIN_WEBHOOK_SECRET)


def test_an_event_for_an_unknown_customer_is_accepted_then_reported(
    stripe_standin, meter, customer, webhook_deliveries
):
    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": stripe_standin})

    # when usage comes for a customer Stripe does not have
    accepted = stripe.billing.MeterEvent.create(
        event_name="tracked_shipments",
        payload={"stripe_customer_id": "cus_doesnotexist", "value": "3"},
        identifier="shipments-unknown-customer",
        **key(),
    )

    # then it is accepted, as Stripe checks the customer later, and counts for no one
    assert accepted.object == "billing.meter_event"
    assert accepted.identifier == "shipments-unknown-customer"

    # and a signed thin event arrives, pointing at the meter, without the details
    body, notification = next(thin_events(webhook_deliveries, client))
    assert notification.type == "v1.billing.meter.error_report_triggered"
    assert notification.related_object.id == meter.id
    assert notification.related_object.url == f"/v1/billing/meters/{meter.id}"
    assert "data" not in json.loads(body)

    # and the full event, read from the API, names the error and the event's identifier
    event = client.v2.core.events.retrieve(notification.id)
    (error_type,) = event.data.reason.error_types
    assert error_type.code == "meter_event_customer_not_found"
    assert error_type.error_count == 1
    (sample,) = error_type.sample_errors
    assert sample["request"]["identifier"] == "shipments-unknown-customer"  # `.request` is a method
    assert "cus_doesnotexist" in sample.error_message
    assert event.data.reason.error_count == 1
    assert event.data.developer_message_summary
    assert event.data.validation_start <= event.data.validation_end

    # and the meter's events list it; the known customer's usage is untouched
    listed = client.v2.core.events.list({"object_id": meter.id})
    assert [e.id for e in listed.data] == [notification.id]
    assert usage(meter, customer) == 0


def test_an_event_for_no_meter_is_reported_as_no_meter_found(stripe_standin, customer):
    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": stripe_standin})

    # when usage comes for an event name no meter has
    record(customer, 3, event_name="no_such_meter", identifier="shipments-no-meter")

    # then Stripe's no-meter report names the event
    (event,) = client.v2.core.events.list({"types": ["v1.billing.meter.no_meter_found"]}).data
    full = client.v2.core.events.retrieve(event.id)
    (error_type,) = full.data.reason.error_types
    assert error_type.code == "no_meter"
    assert error_type.sample_errors[0]["request"]["identifier"] == "shipments-no-meter"


def test_a_missing_v2_event_is_resource_missing(stripe_standin):
    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": stripe_standin})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v2.core.events.retrieve("evt_test_doesnotexist")
    assert missing.value.http_status == 404


# --- Test controls --------------------------------------------------------------------------


def test_emptying_the_stand_in_resets_meters_their_events_and_the_clock(
    stripe_standin, meter, customer
):
    # given a meter with usage and an error report, and a clock a day ahead
    record(customer, 5, identifier="shipments-before-reset")
    record(customer, 5, event_name="no_such_meter")
    move_clock(stripe_standin, DAY)
    assert standin_config(stripe_standin, "GET", "/_config/clock")["offset_seconds"] == DAY

    # when the stand-in is emptied
    standin_config(stripe_standin, "DELETE", "/_config/data")

    # then the clock is real time again and nothing of the meters is left
    clock = standin_config(stripe_standin, "GET", "/_config/clock")
    assert clock["offset_seconds"] == 0
    assert abs(clock["now"] - now()) <= 2
    assert stripe.billing.Meter.list(**key()).data == []
    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": stripe_standin})
    assert client.v2.core.events.list().data == []

    # and the identifier received before is free again
    new_customer = stripe.Customer.create(name="Bergmann Logistik GmbH", **key())
    new_meter = stripe.billing.Meter.create(
        display_name="Tracked shipments",
        event_name="tracked_shipments",
        default_aggregation={"formula": "sum"},
        **key(),
    )
    record(new_customer, 5, identifier="shipments-before-reset")
    assert usage(new_meter, new_customer) == 5
