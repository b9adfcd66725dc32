"""The Stripe objects localstripe lacks, kept in memory for the test stand-in.

Prices and subscription schedules (created, changed and listed through the API), and the objects
only Stripe itself makes (disputes, Radar reviews and early fraud warnings, mandates, tax IDs),
which the tests seed. Every object starts as a copy of Stripe's own example
(fixtures/fixtures3.json) with the fields the request decides written over it, so the code
under test sees every field Stripe sends.

Parameters are checked as Stripe checks them and refused in Stripe's shape (`Missing required
param: currency.`, `No such price: 'price_...'`, with `param` naming the field), so that a request
real Stripe would refuse fails here too. A parameter Stripe knows but the stand-in does not act on
is refused with a message saying so, never silently ignored. Each write is also a localstripe
Event, so `GET /v1/events` lists it and registered webhooks receive it.

`stripe_shape` and `expand_paths` serve localstripe's own objects as well (see
server.py).
"""

import asyncio
import copy
import functools
import itertools
import json
import operator
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from localstripe import resources
from localstripe.errors import UserError
from localstripe.webhooks import schedule_webhook

FIXTURES_PATH = Path(__file__).parent / "fixtures" / "fixtures3.json"

Obj = dict[str, Any]

# The id prefix Stripe gives each object the store keeps.
ID_PREFIXES = {
    "price": "price_",
    "subscription_schedule": "sub_sched_",
    "dispute": "dp_",
    "review": "prv_",
    "radar.early_fraud_warning": "issfr_",
    "mandate": "mandate_",
    "tax_id": "txi_",
    "billing.meter": "mtr_",
    "credit_note": "cn_",
    "credit_note_line_item": "cnli_",
}
# Ids only this store hands out; localstripe also has tax ids ("txi_"), so that one is shared.
_OWN_ONLY_PREFIXES = tuple(p for name, p in ID_PREFIXES.items() if name != "tax_id")

# How Stripe names each object in "No such ...: 'id'".
NOUNS = {
    "price": "price",
    "subscription_schedule": "subscription schedule",
    "dispute": "dispute",
    "review": "review",
    "radar.early_fraud_warning": "early fraud warning",
    "mandate": "mandate",
    "tax_id": "tax ID",
    "billing.meter": "billing meter",
    "credit_note": "credit note",
}

# Fields Stripe sends only when asked for with `expand` ("includable" in its API reference).
INCLUDABLE = {"price": frozenset({"tiers", "currency_options"})}

# The events Stripe sends when such an object appears and when it changes.
SEED_EVENTS = {
    "dispute": ("charge.dispute.created", "charge.dispute.updated"),
    "review": ("review.opened", "review.closed"),
    "radar.early_fraud_warning": (
        "radar.early_fraud_warning.created",
        "radar.early_fraud_warning.updated",
    ),
    "mandate": ("mandate.updated", "mandate.updated"),
    "tax_id": ("customer.tax_id.created", "customer.tax_id.updated"),
    "price": ("price.created", "price.updated"),
    "subscription_schedule": ("subscription_schedule.created", "subscription_schedule.updated"),
}


@functools.cache
def _fixtures() -> dict[str, Obj]:
    with FIXTURES_PATH.open() as f:
        resources_: dict[str, Obj] = json.load(f)["resources"]
    return resources_


def stripe_fixture(name: str) -> Obj:
    """A fresh copy of Stripe's example object `name` (for example "customer")."""
    return copy.deepcopy(_fixtures()[name])


class StandinClock:
    """The stand-in's now: real time, moved by the test control `POST /_config/clock`."""

    def __init__(self) -> None:
        self.offset_seconds = 0

    def now(self) -> int:
        return int(time.time()) + self.offset_seconds

    def reset(self) -> None:
        self.offset_seconds = 0


CLOCK = StandinClock()


def _now() -> int:
    return CLOCK.now()


def new_id(object_name: str) -> str:
    # Stripe's ids are the prefix and 24 letters or digits.
    alphabet = string.ascii_letters + string.digits
    return ID_PREFIXES[object_name] + "".join(secrets.choice(alphabet) for _ in range(24))


# --- Errors and parameters ------------------------------------------------------------------


class StripeError(UserError):
    """An error in Stripe's shape; localstripe's error middleware renders it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        contents: Obj = {"message": message}
        if param is not None:
            contents["param"] = param
        if code is not None:
            contents["code"] = code
            contents["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        super().__init__(status, message, contents)
        self.body["error"]["type"] = error_type


def _name(prefix: str, key: str | int) -> str:
    """Stripe's name for a nested parameter: `phases[0][items][1][price]`."""
    return f"{prefix}[{key}]" if prefix else str(key)


def _missing(name: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {name}.", param=name, code="parameter_missing"
    )


def _no_such(object_name: str, object_id: str, param: str, status: int = 400) -> StripeError:
    noun = NOUNS.get(object_name, object_name.replace("_", " "))
    return StripeError(
        status, f"No such {noun}: '{object_id}'", param=param, code="resource_missing"
    )


def _only_one_of(*names: str) -> StripeError:
    return StripeError(
        400,
        f"You may only specify one of these parameters: {', '.join(names)}.",
        param=names[0],
    )


def _check_params(
    params: Obj, known: Iterable[str], prefix: str = "", unsupported: Iterable[str] = ()
) -> None:
    """Refuse what Stripe does not know, and what the stand-in does not act on."""
    known, unsupported = set(known), set(unsupported)
    for key in params:
        name = _name(prefix, key)
        if key in unsupported:
            raise StripeError(
                400,
                f"The test stand-in does not implement {name} (real Stripe accepts it): "
                "extend stripe_standin/store.py if a test needs it.",
                param=name,
            )
        if key not in known:
            raise StripeError(
                400, f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
            )


def _dict(value: Any, name: str) -> Obj:
    if not isinstance(value, dict):
        raise StripeError(400, f"Invalid object: {name} must be a hash of parameters.", param=name)
    return value


def _list(value: Any, name: str) -> list[Any]:
    if value == "":  # Stripe's way of sending an empty list in a form
        return []
    if not isinstance(value, list):
        raise StripeError(400, f"Invalid array: {name} must be an array.", param=name)
    return value


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise StripeError(400, f"Invalid string: {value!r}", param=name)
    return value


def _optional_string(value: Any, name: str) -> str | None:
    # An empty string is how Stripe's clients unset a field.
    return None if value is None or value == "" else _string(value, name)


# Stripe's currency rules for money that moves as an amount of its own (docs.stripe.com/
# currencies): three-decimal currencies in steps of ten minor units, ISK (two decimals in the
# API) in whole krónur.
_STEP = {**dict.fromkeys(("bhd", "jod", "kwd", "omr", "tnd"), 10), "isk": 100}


def _charged(amount: int, currency: str, name: str) -> int:
    """Refuse an amount Stripe would not move in `currency`."""
    step = _STEP.get(currency.lower(), 1)
    if amount % step:
        raise StripeError(
            400,
            f"Invalid amount {amount} for {currency.lower()}: amounts in {currency.lower()} "
            f"must be a multiple of {step}.",
            param=name,
            code="amount_invalid",
        )
    return amount


def _int(value: Any, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise StripeError(
            400, f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
        )
    try:
        number = int(value)
    except ValueError:
        raise StripeError(
            400, f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
        ) from None
    if minimum is not None and number < minimum:
        raise StripeError(
            400,
            f"This value must be greater than or equal to {minimum}.",
            param=name,
            code="parameter_invalid_integer",
        )
    return number


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise StripeError(400, f"Invalid boolean: {value}", param=name)


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise StripeError(400, f"Invalid decimal: {value}", param=name) from None
    # Stripe takes at most 12 decimal places of a minor unit, never negative amounts.
    if not number.is_finite() or number < 0 or number != round(number, 12):
        raise StripeError(400, f"Invalid decimal: {value}", param=name)
    return number


def _choice(value: Any, name: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        leaf = name.rsplit("[", 1)[-1].rstrip("]")
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise StripeError(400, f"Invalid {leaf}: must be one of {listed}", param=name)
    return str(value)


def _timestamp(value: Any, name: str) -> int:
    return _now() if value == "now" else _int(value, name, minimum=0)


def _metadata(value: Any, name: str = "metadata") -> dict[str, str]:
    if value == "":  # `metadata=""` clears all of it
        return {}
    metadata = _dict(value, name)
    for key, item in metadata.items():
        _string(item, _name(name, key))
    return dict(metadata)


def _new_metadata(value: Any, name: str = "metadata") -> dict[str, str]:
    # On a new object an empty value has nothing to remove.
    return {key: item for key, item in _metadata(value, name).items() if item}


def _merge_metadata(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    # Stripe merges metadata; a key sent empty is removed.
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def expand_list(value: Any) -> list[str]:
    """The paths of `expand[]`, refused before anything is written if Stripe would refuse them."""
    if value is None:
        return []
    paths = (
        [value]
        if isinstance(value, str)
        else [_string(p, "expand") for p in _list(value, "expand")]
    )
    check_expand(paths)
    return paths


def _decimal_string(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _amount(params: Obj, key: str, prefix: str = "") -> tuple[int | None, str | None]:
    """An amount sent as `key` (integer minor units) or `key_decimal`: (integer, decimal string).

    The integer is None when the decimal has a fraction of a minor unit, as in Stripe.
    """
    decimal_key = f"{key}_decimal"
    if key in params and decimal_key in params:
        raise _only_one_of(_name(prefix, key), _name(prefix, decimal_key))
    if key in params:
        amount = _int(params[key], _name(prefix, key), minimum=0)
        return amount, str(amount)
    if decimal_key in params:
        number = _decimal(params[decimal_key], _name(prefix, decimal_key))
        integral = number == number.to_integral_value()
        return (int(number) if integral else None), _decimal_string(number)
    return None, None


# --- The store ------------------------------------------------------------------------------


class StandinStore:
    """Objects by type and id, and the order they were made in."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, Obj]] = {}
        self._sequence: dict[str, int] = {}
        self._counter = itertools.count()

    def clear(self) -> None:
        self._objects.clear()
        self._sequence.clear()

    def put(self, obj: Obj) -> Obj:
        self._objects.setdefault(obj["object"], {})[obj["id"]] = obj
        self._sequence.setdefault(obj["id"], next(self._counter))
        return obj

    def find(self, object_id: str) -> Obj | None:
        for objects in self._objects.values():
            if object_id in objects:
                return objects[object_id]
        return None

    def get(self, object_name: str, object_id: str) -> Obj:
        obj = self._objects.get(object_name, {}).get(object_id)
        if obj is None:
            raise _no_such(object_name, object_id, param="id", status=404)
        return obj

    def all(self, object_name: str) -> list[Obj]:
        return list(self._objects.get(object_name, {}).values())

    def order_key(self, obj: Obj) -> tuple[int, int, str]:
        # `created` is in whole seconds: the order of creation breaks ties, the id the rest.
        return (obj.get("created") or 0, self._sequence.get(obj["id"], -1), obj["id"])


STORE = StandinStore()


def public_copy(obj: Obj) -> Obj:
    """The object as Stripe sends it when nothing is expanded."""
    exported = copy.deepcopy(obj)
    for key in INCLUDABLE.get(obj.get("object", ""), ()):
        exported.pop(key, None)
    return exported


# --- Events ---------------------------------------------------------------------------------


class _Snapshot:
    """What localstripe's Event takes: anything with `_export()`."""

    def __init__(self, obj: Obj) -> None:
        self._obj = public_copy(obj)

    def _export(self, expand: Any = None) -> Obj:
        return copy.deepcopy(self._obj)


def emit_event(event_type: str, obj: Obj, previous_attributes: Obj | None = None) -> None:
    """A localstripe Event: listed by `GET /v1/events`, sent to registered webhooks."""
    event = resources.Event(event_type, _Snapshot(obj))
    if previous_attributes:
        event.data["previous_attributes"] = previous_attributes
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # outside the server (this module used directly): listed, not delivered
    schedule_webhook(event)


def _changes(before: Obj, after: Obj) -> Obj:
    """Stripe's `previous_attributes`: the old value of each top-level field that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after[key]}


# --- Expansion and Stripe's shape for any object --------------------------------------------

_MISSING = object()


def resolve(object_id: str) -> Obj | None:
    """The object an id points at, from this store or localstripe's; None if unknown."""
    obj = STORE.find(object_id)
    if obj is not None:
        if obj["object"] == "subscription_schedule":
            _refresh_schedule(obj)
        return public_copy(obj)
    if object_id.startswith(_OWN_ONLY_PREFIXES):
        return None  # "sub_sched_..." would otherwise look like a localstripe "sub_..."
    cls = resources.StripeObject._get_class_for_id(object_id)
    if cls is None:
        return None
    try:
        exported: Obj = cls._api_retrieve(object_id)._export()
    except UserError:
        return None
    return exported


def _included(node: Obj, key: str) -> Any:
    """A field Stripe sends only when expanded, or _MISSING."""
    kind = node.get("object", "")
    if key in INCLUDABLE.get(kind, ()):
        stored = STORE.find(node.get("id") or "")
        if stored is not None and key in stored:
            return copy.deepcopy(stored[key])
    if kind == "customer" and key == "tax_ids":
        customer = resources.store.get("customer:" + str(node.get("id")))
        if customer is not None:
            return stripe_shape(customer.tax_ids._export())
    return _MISSING


def check_expand(paths: Iterable[str]) -> None:
    for path in paths:
        if len(path.split(".")) > 4:
            raise StripeError(
                400,
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )


def expand_paths(payload: Any, paths: Iterable[str]) -> None:
    """Expand `paths` (Stripe's dotted `expand[]`) in place.

    A path that leads nowhere (a field the object lacks) is left out rather than refused: that is
    what localstripe cannot do, and what dj-stripe asks for on every request.
    """
    check_expand(paths)
    for path in paths:
        _expand(payload, path.split("."))


def _expand(node: Any, segments: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(item, segments)
        return
    if not isinstance(node, dict) or not segments:
        return
    key, rest = segments[0], segments[1:]
    if key not in node:
        included = _included(node, key)
        if included is _MISSING:
            return
        node[key] = included
    elif isinstance(node[key], str):
        node[key] = resolve(node[key]) or node[key]
    _expand(node[key], rest)


def stripe_shape(payload: Any) -> Any:
    """Fill in, in place, what localstripe leaves out and Stripe (and dj-stripe) count on."""
    if isinstance(payload, list):
        for item in payload:
            stripe_shape(item)
        return payload
    if not isinstance(payload, dict):
        return payload
    for value in payload.values():
        stripe_shape(value)
    kind = payload.get("object")
    if payload.get("default_tax_rates", []) is None:
        payload["default_tax_rates"] = []
    if kind in ("invoice", "line_item", "invoiceitem", "subscription", "subscription_item"):
        payload.setdefault("discounts", [])
    if kind == "subscription":
        for item in (payload.get("items") or {}).get("data") or []:
            if isinstance(item, dict) and not item.get("subscription"):
                item["subscription"] = payload.get("id")
    elif kind == "subscription_item" and not payload.get("subscription"):
        # localstripe keeps the parent on the item, privately.
        item = resources.store.get("subscription_item:" + str(payload.get("id")))
        payload["subscription"] = getattr(item, "_subscription", None)
    elif kind == "invoice" and payload.get("subscription"):
        for line in (payload.get("lines") or {}).get("data") or []:
            if isinstance(line, dict) and line.get("type") == "subscription":
                line["subscription"] = line.get("subscription") or payload["subscription"]
    elif kind == "line_item" and isinstance(payload.get("plan"), dict):
        # Stripe (API 2026-08-26) names a line's price under `pricing`; localstripe names its
        # plan, the older way (a plan is a price of the same id).
        plan = payload["plan"]
        payload.setdefault(
            "pricing",
            {
                "type": "price_details",
                "price_details": {"price": plan["id"], "product": plan["product"]},
                "unit_amount_decimal": str(plan["amount"]),
            },
        )
    elif kind == "tax_id" and "owner" not in payload:
        payload["owner"] = {
            "type": "customer",
            "customer": payload.get("customer"),
            "customer_account": None,
        }
        payload.setdefault("customer_account", None)
    return payload


def export(obj: Obj, expand: Iterable[str] = ()) -> Obj:
    exported = public_copy(obj)
    expand_paths(exported, expand)
    return exported


# --- Lists ----------------------------------------------------------------------------------

_RANGE_OPERATORS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})


def _range_filter(spec: Any, name: str) -> Callable[[Any], bool]:
    """Stripe's timestamp filter: an exact value, or `name[gte]`, `name[lt]`, ..."""
    if not isinstance(spec, dict):
        exact = _int(spec, name)
        return lambda value: value == exact
    _check_params(spec, _RANGE_OPERATORS, prefix=name)
    bounds = [(_RANGE_OPERATORS[op], _int(v, _name(name, op))) for op, v in spec.items()]
    return lambda value: value is not None and all(op(value, bound) for op, bound in bounds)


def list_object(
    candidates: list[Obj],
    params: Obj,
    *,
    url: str,
    object_name: str,
    filters: Iterable[Callable[[Obj], bool]] = (),
) -> Obj:
    """One page of Stripe's list: newest first, `limit` 1..100, cursors, `created` filter.

    `candidates` are every object of the type (a cursor may point at one the filters leave out).
    """
    limit = _int(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise StripeError(
            400,
            "Invalid limit: must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    filters = list(filters)
    if "created" in params:
        created = _range_filter(params["created"], "created")
        filters.append(lambda obj: created(obj.get("created")))
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise _only_one_of("ending_before", "starting_after")
    ordered = sorted(
        (obj for obj in candidates if all(keep(obj) for keep in filters)),
        key=STORE.order_key,
        reverse=True,
    )
    if after or before:
        cursor_id = after or before
        param = "starting_after" if after else "ending_before"
        cursor = next((obj for obj in candidates if obj["id"] == cursor_id), None)
        if cursor is None:
            raise _no_such(object_name, cursor_id, param=param)
        cursor_key = STORE.order_key(cursor)
        if after:
            rest = [obj for obj in ordered if STORE.order_key(obj) < cursor_key]
            page, has_more = rest[:limit], len(rest) > limit
        else:
            # The `limit` objects just newer than the cursor, still newest first.
            rest = [obj for obj in ordered if STORE.order_key(obj) > cursor_key]
            page, has_more = rest[-limit:], len(rest) > limit
    else:
        page, has_more = ordered[:limit], len(ordered) > limit
    listed = {
        "object": "list",
        "url": url,
        "has_more": has_more,
        "data": [public_copy(obj) for obj in page],
    }
    expand_paths(listed, expand_list(params.get("expand")))
    return listed


def _field_filters(params: Obj, fields: Iterable[str]) -> list[Callable[[Obj], bool]]:
    """Equality filters (`?charge=ch_...`) for the fields sent."""
    filters: list[Callable[[Obj], bool]] = []
    for field in fields:
        if field in params:
            wanted = _string(params[field], field)
            filters.append(lambda obj, field=field, wanted=wanted: obj.get(field) == wanted)
    return filters


# --- Prices ---------------------------------------------------------------------------------

_TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")
_INTERVALS = ("day", "week", "month", "year")
_PRICE_CREATE_PARAMS = frozenset(
    """
    active billing_scheme currency currency_options custom_unit_amount lookup_key metadata
    nickname product product_data recurring tax_behavior tiers tiers_mode transfer_lookup_key
    transform_quantity unit_amount unit_amount_decimal
    """.split()
)
_PRICE_UPDATE_PARAMS = frozenset(
    """
    active currency_options lookup_key metadata nickname tax_behavior transfer_lookup_key
    """.split()
)
_PRICE_LIST_PARAMS = _LIST_PARAMS | {
    "active",
    "currency",
    "lookup_keys",
    "product",
    "recurring",
    "type",
}


def _currency(value: Any, name: str) -> str:
    if value is None:
        raise _missing(name)
    currency = _string(value, name).lower()
    if len(currency) != 3 or not currency.isalpha():
        raise StripeError(400, f"Invalid currency: {value}", param=name)
    return currency


def _existing_product(product_id: Any, name: str) -> str:
    product_id = _string(product_id, name)
    if resources.store.get("product:" + product_id) is None:
        raise _no_such("product", product_id, param=name)
    return product_id


def _product_data(value: Any) -> Obj:
    data = _dict(value, "product_data")
    _check_params(
        data,
        {"active", "id", "metadata", "name", "statement_descriptor", "tax_code", "unit_label"},
        prefix="product_data",
        unsupported={"tax_code", "unit_label"},  # localstripe's products have neither
    )
    if "name" not in data:
        raise _missing("product_data[name]")
    product: Obj = {"name": _string(data["name"], "product_data[name]")}
    if "id" in data:
        product["id"] = _string(data["id"], "product_data[id]")
        if resources.store.get("product:" + product["id"]) is not None:
            raise StripeError(
                400, f"Product already exists: {product['id']}", param="product_data[id]"
            )
    if "active" in data:
        product["active"] = _bool(data["active"], "product_data[active]")
    if "metadata" in data:
        product["metadata"] = _metadata(data["metadata"], "product_data[metadata]")
    if "statement_descriptor" in data:
        product["statement_descriptor"] = _string(
            data["statement_descriptor"], "product_data[statement_descriptor]"
        )
    return product


def _recurring(value: Any) -> Obj:
    recurring = _dict(value, "recurring")
    _check_params(
        recurring,
        {"interval", "interval_count", "meter", "trial_period_days", "usage_type"},
        prefix="recurring",
    )
    if "interval" not in recurring:
        raise _missing("recurring[interval]")
    usage_type = _choice(
        recurring.get("usage_type", "licensed"), "recurring[usage_type]", ("licensed", "metered")
    )
    meter = _optional_string(recurring.get("meter"), "recurring[meter]")
    if usage_type == "metered" and meter is None:
        # Since API version 2025-03-31 a metered price bills what a billing meter records.
        raise _missing("recurring[meter]")
    if meter is not None:
        STORE.get("billing.meter", meter)
    trial = recurring.get("trial_period_days")
    return {
        "interval": _choice(recurring["interval"], "recurring[interval]", _INTERVALS),
        "interval_count": _int(
            recurring.get("interval_count", 1), "recurring[interval_count]", minimum=1
        ),
        "meter": meter,
        "usage_type": usage_type,
        "trial_period_days": None
        if trial is None
        else _int(trial, "recurring[trial_period_days]", minimum=0),
    }


def _tiers(value: Any) -> list[Obj]:
    raw = _list(value, "tiers")
    if not raw:
        raise _missing("tiers")
    tiers: list[Obj] = []
    previous_up_to = 0
    for i, tier in enumerate(raw):
        prefix = f"tiers[{i}]"
        tier = _dict(tier, prefix)
        _check_params(
            tier,
            {"up_to", "unit_amount", "unit_amount_decimal", "flat_amount", "flat_amount_decimal"},
            prefix=prefix,
        )
        if "up_to" not in tier:
            raise _missing(f"{prefix}[up_to]")
        last = i == len(raw) - 1
        if tier["up_to"] == "inf":
            if not last:
                raise StripeError(
                    400,
                    "Only the last tier may have `up_to` set to `inf`.",
                    param=f"{prefix}[up_to]",
                )
            up_to = None
        else:
            up_to = _int(tier["up_to"], f"{prefix}[up_to]", minimum=1)
            if last:
                raise StripeError(
                    400, "The last tier must have `up_to` set to `inf`.", param=f"{prefix}[up_to]"
                )
            if up_to <= previous_up_to:
                raise StripeError(
                    400, "Tiers must be in increasing order of `up_to`.", param=f"{prefix}[up_to]"
                )
            previous_up_to = up_to
        unit_amount, unit_amount_decimal = _amount(tier, "unit_amount", prefix)
        flat_amount, flat_amount_decimal = _amount(tier, "flat_amount", prefix)
        if unit_amount_decimal is None and flat_amount_decimal is None:
            raise StripeError(
                400,
                "Each tier needs at least one of unit_amount, unit_amount_decimal, flat_amount "
                "or flat_amount_decimal.",
                param=prefix,
            )
        tiers.append(
            {
                "flat_amount": flat_amount,
                "flat_amount_decimal": flat_amount_decimal,
                "unit_amount": unit_amount,
                "unit_amount_decimal": unit_amount_decimal,
                "up_to": up_to,
            }
        )
    return tiers


def _custom_unit_amount(value: Any) -> Obj | None:
    if value is None:
        return None
    custom = _dict(value, "custom_unit_amount")
    _check_params(custom, {"enabled", "maximum", "minimum", "preset"}, prefix="custom_unit_amount")
    if "enabled" not in custom:
        raise _missing("custom_unit_amount[enabled]")
    if not _bool(custom["enabled"], "custom_unit_amount[enabled]"):
        return None
    return {
        key: None
        if custom.get(key) is None
        else _int(custom[key], f"custom_unit_amount[{key}]", minimum=0)
        for key in ("maximum", "minimum", "preset")
    }


def _transform_quantity(value: Any) -> Obj | None:
    if value is None:
        return None
    transform = _dict(value, "transform_quantity")
    _check_params(transform, {"divide_by", "round"}, prefix="transform_quantity")
    for key in ("divide_by", "round"):
        if key not in transform:
            raise _missing(f"transform_quantity[{key}]")
    return {
        "divide_by": _int(transform["divide_by"], "transform_quantity[divide_by]", minimum=1),
        "round": _choice(transform["round"], "transform_quantity[round]", ("down", "up")),
    }


def _currency_options(value: Any, own: Obj) -> dict[str, Obj]:
    """Prices in other currencies; the price's own currency is always one of them."""
    options = {own["currency"]: own["option"]}
    for currency, raw in _dict(value or {}, "currency_options").items():
        prefix = f"currency_options[{currency}]"
        option = _dict(raw, prefix)
        _check_params(
            option,
            {"custom_unit_amount", "tax_behavior", "tiers", "unit_amount", "unit_amount_decimal"},
            prefix=prefix,
            unsupported={"custom_unit_amount", "tiers"},
        )
        unit_amount, unit_amount_decimal = _amount(option, "unit_amount", prefix)
        if unit_amount_decimal is None:
            raise _missing(f"{prefix}[unit_amount]")
        options[_currency(currency, prefix)] = {
            "custom_unit_amount": None,
            "tax_behavior": _choice(
                option.get("tax_behavior", own["option"]["tax_behavior"]),
                f"{prefix}[tax_behavior]",
                _TAX_BEHAVIORS,
            ),
            "unit_amount": unit_amount,
            "unit_amount_decimal": unit_amount_decimal,
        }
    return options


def _lookup_key_holder(lookup_key: str | None, transfer: bool, except_id: str = "") -> Obj | None:
    """The price that already has this lookup key, if it may be moved; else Stripe's error."""
    if lookup_key is None:
        return None
    holder = next(
        (p for p in STORE.all("price") if p["lookup_key"] == lookup_key and p["id"] != except_id),
        None,
    )
    if holder is not None and not transfer:
        raise StripeError(
            400,
            f"A price (`{holder['id']}`) already uses that lookup key. Set "
            "`transfer_lookup_key` to move it to this price.",
            param="lookup_key",
        )
    return holder


def _take_lookup_key(holder: Obj | None) -> None:
    if holder is not None:
        before = copy.deepcopy(holder)
        holder["lookup_key"] = None
        emit_event("price.updated", holder, _changes(before, holder))


def price_create(params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(params, _PRICE_CREATE_PARAMS)
    currency = _currency(params.get("currency"), "currency")
    if "product" in params and "product_data" in params:
        raise _only_one_of("product", "product_data")
    if "product" in params:
        product_id, new_product = _existing_product(params["product"], "product"), None
    elif "product_data" in params:
        product_id, new_product = "", _product_data(params["product_data"])
    else:
        raise _missing("product")
    billing_scheme = _choice(
        params.get("billing_scheme", "per_unit"), "billing_scheme", ("per_unit", "tiered")
    )
    unit_amount, unit_amount_decimal = _amount(params, "unit_amount")
    custom_unit_amount = _custom_unit_amount(params.get("custom_unit_amount"))
    tiers: list[Obj] | None = None
    tiers_mode: str | None = None
    if billing_scheme == "tiered":
        if unit_amount_decimal is not None:
            raise StripeError(
                400, "A tiered price takes its amounts from `tiers`.", param="unit_amount"
            )
        if "tiers_mode" not in params:
            raise _missing("tiers_mode")
        tiers_mode = _choice(params["tiers_mode"], "tiers_mode", ("graduated", "volume"))
        tiers = _tiers(params.get("tiers"))
    else:
        for key in ("tiers", "tiers_mode"):
            if key in params:
                raise StripeError(
                    400, f"`{key}` is only for prices with `billing_scheme=tiered`.", param=key
                )
        if unit_amount_decimal is None and custom_unit_amount is None:
            raise _missing("unit_amount")
    recurring = _recurring(params["recurring"]) if "recurring" in params else None
    tax_behavior = _choice(
        params.get("tax_behavior", "unspecified"), "tax_behavior", _TAX_BEHAVIORS
    )
    lookup_key = _optional_string(params.get("lookup_key"), "lookup_key")
    holder = _lookup_key_holder(
        lookup_key, _bool(params.get("transfer_lookup_key", False), "transfer_lookup_key")
    )
    own_option = {
        "custom_unit_amount": custom_unit_amount,
        "tax_behavior": tax_behavior,
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount_decimal,
    }
    currency_options = _currency_options(
        params.get("currency_options"), {"currency": currency, "option": own_option}
    )
    fields = {
        "active": _bool(params.get("active", True), "active"),
        "billing_scheme": billing_scheme,
        "currency": currency,
        "custom_unit_amount": custom_unit_amount,
        "lookup_key": lookup_key,
        "metadata": _new_metadata(params.get("metadata", {})),
        "nickname": _optional_string(params.get("nickname"), "nickname"),
        "recurring": recurring,
        "tax_behavior": tax_behavior,
        "tiers_mode": tiers_mode,
        "transform_quantity": _transform_quantity(params.get("transform_quantity")),
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount_decimal,
    }

    # Every check passed: from here on the request succeeds.
    if new_product is not None:
        product_id = resources.Product(**new_product).id
    _take_lookup_key(holder)
    price = stripe_fixture("price")
    price.update(fields, id=new_id("price"), created=_now(), livemode=False, product=product_id)
    price["tiers"] = tiers
    price["currency_options"] = currency_options
    STORE.put(price)
    emit_event("price.created", price)
    return export(price, expand)


def price_retrieve(price_id: str, params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(params, ())
    return export(STORE.get("price", price_id), expand)


def price_update(price_id: str, params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    price = STORE.get("price", price_id)
    _check_params(params, _PRICE_UPDATE_PARAMS, unsupported={"currency_options"})
    updated = copy.deepcopy(price)
    if "active" in params:
        updated["active"] = _bool(params["active"], "active")
    if "nickname" in params:
        updated["nickname"] = _optional_string(params["nickname"], "nickname")
    if "metadata" in params:
        metadata = _metadata(params["metadata"])
        updated["metadata"] = _merge_metadata(price["metadata"], metadata) if metadata else {}
    if "tax_behavior" in params:
        tax_behavior = _choice(params["tax_behavior"], "tax_behavior", _TAX_BEHAVIORS)
        if price["tax_behavior"] != "unspecified" and tax_behavior != price["tax_behavior"]:
            raise StripeError(
                400,
                "A price's tax_behavior cannot change once it is inclusive or exclusive.",
                param="tax_behavior",
            )
        updated["tax_behavior"] = tax_behavior
        updated["currency_options"][price["currency"]]["tax_behavior"] = tax_behavior
    holder = None
    if "lookup_key" in params:
        updated["lookup_key"] = _optional_string(params["lookup_key"], "lookup_key")
        holder = _lookup_key_holder(
            updated["lookup_key"],
            _bool(params.get("transfer_lookup_key", False), "transfer_lookup_key"),
            except_id=price_id,
        )

    _take_lookup_key(holder)
    previous = _changes(price, updated)
    price.clear()
    price.update(updated)
    if previous:
        emit_event("price.updated", price, previous)
    return export(price, expand)


_METADATA_QUERY = re.compile(r"^metadata\['(?P<key>[^']+)'\]:'(?P<value>[^']*)'$")


def metadata_query(query: str) -> tuple[str, str]:
    """The key and value of a Stripe search query `metadata['key']:'value'`, the only search
    the back-office sends; any other query is refused by name rather than answered wrongly."""
    match = _METADATA_QUERY.match(query.strip())
    if match is None:
        raise StripeError(
            400,
            f"The test stand-in understands only metadata['key']:'value' searches, not {query!r}"
            " (extend stripe_standin/store.py's metadata_query if a test needs more).",
            param="query",
        )
    return match["key"], match["value"]


def search_result(found: list[Obj], url: str) -> Obj:
    return {"object": "search_result", "data": found, "has_more": False, "next_page": None,
            "url": url}  # fmt: skip


def price_search(params: Obj) -> Obj:
    """`GET /v1/prices/search` by metadata."""
    _check_params(params, {"query", "limit", "page", "expand"})
    key, value = metadata_query(str(params.get("query", "")))
    found = [p for p in STORE.all("price") if (p.get("metadata") or {}).get(key) == value]
    return search_result(found, "/v1/prices/search")


def price_list(params: Obj) -> Obj:
    _check_params(params, _PRICE_LIST_PARAMS)
    filters: list[Callable[[Obj], bool]] = _field_filters(params, ("product", "type"))
    if "active" in params:
        active = _bool(params["active"], "active")
        filters.append(lambda p: p["active"] is active)
    if "currency" in params:
        currency = _currency(params["currency"], "currency")
        filters.append(lambda p: currency in (p.get("currency_options") or {p["currency"]: {}}))
    if "lookup_keys" in params:
        lookup_keys = set(_list(params["lookup_keys"], "lookup_keys"))
        filters.append(lambda p: p["lookup_key"] in lookup_keys)
    if "recurring" in params:
        recurring = _dict(params["recurring"], "recurring")
        _check_params(recurring, {"interval", "meter", "usage_type"}, prefix="recurring")
        filters.append(
            lambda p: (
                p["recurring"] is not None
                and all(p["recurring"][k] == v for k, v in recurring.items())
            )
        )
    return list_object(
        STORE.all("price"), params, url="/v1/prices", object_name="price", filters=filters
    )


# --- Subscription schedules -----------------------------------------------------------------

_SCHEDULE_CREATE_PARAMS = frozenset(
    """
    billing_mode customer customer_account default_settings end_behavior from_subscription
    metadata phases start_date
    """.split()
)
_SCHEDULE_UPDATE_PARAMS = frozenset(
    {"default_settings", "end_behavior", "metadata", "phases", "proration_behavior"}
)
_DEFAULT_SETTINGS_PARAMS = frozenset(
    """
    application_fee_percent automatic_tax billing_cycle_anchor billing_thresholds
    collection_method default_payment_method description invoice_settings on_behalf_of
    transfer_data
    """.split()
)
# Phase parameters Stripe knows; `start_date` and `iterations` are from older API versions
# (and updates) and still accepted here.
_PHASE_PARAMS = frozenset(
    """
    add_invoice_items application_fee_percent automatic_tax billing_cycle_anchor
    billing_thresholds collection_method currency default_payment_method default_tax_rates
    description discounts duration end_date invoice_settings items iterations metadata
    on_behalf_of proration_behavior start_date transfer_data trial trial_end
    """.split()
)
_PHASE_UNSUPPORTED = frozenset(
    """
    add_invoice_items application_fee_percent billing_thresholds default_payment_method
    discounts on_behalf_of transfer_data trial
    """.split()
)
_COLLECTION_METHODS = ("charge_automatically", "send_invoice")
_OPEN_STATUSES = ("not_started", "active")


def _add_interval(timestamp: int, interval: str, count: int) -> int:
    start = datetime.fromtimestamp(timestamp, tz=UTC)
    step = {
        "day": relativedelta(days=count),
        "week": relativedelta(weeks=count),
        "month": relativedelta(months=count),
        "year": relativedelta(years=count),
    }[interval]
    return int((start + step).timestamp())


def _tax_rates(value: Any, name: str) -> list[Obj]:
    """Tax rates by id, as the objects Stripe puts in schedule phases."""
    rates = []
    for k, rate_id in enumerate(_list(value, name)):
        rate = resources.store.get("tax_rate:" + _string(rate_id, _name(name, k)))
        if rate is None:
            raise _no_such("tax_rate", rate_id, param=_name(name, k))
        rates.append(rate._export())
    return rates


def _automatic_tax(value: Any, name: str) -> Obj:
    automatic_tax = _dict(value, name)
    _check_params(automatic_tax, {"enabled", "liability"}, prefix=name, unsupported={"liability"})
    if "enabled" not in automatic_tax:
        raise _missing(_name(name, "enabled"))
    enabled = _bool(automatic_tax["enabled"], _name(name, "enabled"))
    return {
        "enabled": enabled,
        "liability": {"type": "self"} if enabled else None,
        "disabled_reason": None,
    }


def _days_until_due(value: Any, name: str) -> int | None:
    invoice_settings = _dict(value, name)
    _check_params(
        invoice_settings,
        {"account_tax_ids", "custom_fields", "days_until_due", "description", "footer", "issuer"},
        prefix=name,
        unsupported={"account_tax_ids", "custom_fields", "description", "footer", "issuer"},
    )
    days = invoice_settings.get("days_until_due")
    return None if days in (None, "") else _int(days, _name(name, "days_until_due"), minimum=0)


def _default_settings(value: Any, current: Obj | None = None) -> Obj:
    raw = _dict(value, "default_settings")
    # Stripe has no `default_settings[default_tax_rates]`: tax rates are set on each phase.
    _check_params(
        raw,
        _DEFAULT_SETTINGS_PARAMS,
        prefix="default_settings",
        unsupported={
            "application_fee_percent",
            "billing_thresholds",
            "default_payment_method",
            "on_behalf_of",
            "transfer_data",
        },
    )
    if current is None:
        settings = stripe_fixture("subscription_schedule")["default_settings"]
        settings.update(
            application_fee_percent=None,
            automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
            billing_cycle_anchor="automatic",
            billing_thresholds=None,
            collection_method="charge_automatically",
            default_payment_method=None,
            description=None,
            on_behalf_of=None,
            transfer_data=None,
        )
        settings["invoice_settings"]["days_until_due"] = None
    else:
        settings = copy.deepcopy(current)
    if "automatic_tax" in raw:
        settings["automatic_tax"] = _automatic_tax(
            raw["automatic_tax"], "default_settings[automatic_tax]"
        )
    if "billing_cycle_anchor" in raw:
        settings["billing_cycle_anchor"] = _choice(
            raw["billing_cycle_anchor"],
            "default_settings[billing_cycle_anchor]",
            ("automatic", "phase_start"),
        )
    if "collection_method" in raw:
        settings["collection_method"] = _choice(
            raw["collection_method"], "default_settings[collection_method]", _COLLECTION_METHODS
        )
    if "description" in raw:
        settings["description"] = _optional_string(
            raw["description"], "default_settings[description]"
        )
    if "invoice_settings" in raw:
        settings["invoice_settings"]["days_until_due"] = _days_until_due(
            raw["invoice_settings"], "default_settings[invoice_settings]"
        )
    if (
        settings["invoice_settings"]["days_until_due"] is not None
        and settings["collection_method"] != "send_invoice"
    ):
        raise StripeError(
            400,
            "`days_until_due` is only for `collection_method=send_invoice`.",
            param="default_settings[invoice_settings][days_until_due]",
        )
    return settings


def _phase_items(value: Any, prefix: str) -> tuple[list[Obj], list[Obj]]:
    """A phase's items in Stripe's shape, and the prices they name."""
    raw_items = _list(value, prefix)
    if not raw_items:
        raise _missing(prefix)
    items, prices = [], []
    for j, raw in enumerate(raw_items):
        name = f"{prefix}[{j}]"
        raw = _dict(raw, name)
        _check_params(
            raw,
            {
                "billing_thresholds",
                "discounts",
                "metadata",
                "plan",
                "price",
                "price_data",
                "quantity",
                "tax_rates",
            },
            prefix=name,
            unsupported={"billing_thresholds", "discounts", "price_data"},
        )
        if "price" in raw and "plan" in raw:
            raise _only_one_of(f"{name}[price]", f"{name}[plan]")
        key = "price" if "price" in raw or "plan" not in raw else "plan"
        if key not in raw:
            raise _missing(f"{name}[price]")
        price_id = _string(raw[key], f"{name}[{key}]")
        price = STORE.find(price_id)
        if price is None or price["object"] != "price":
            raise _no_such("price", price_id, param=f"{name}[{key}]")
        if price["type"] != "recurring":
            raise StripeError(
                400,
                f"The price specified ({price_id}) is a one-time price; phase items take "
                "recurring prices (one-time prices go in `add_invoice_items`).",
                param=f"{name}[{key}]",
            )
        metered = (price.get("recurring") or {}).get("usage_type") == "metered"
        if metered and "quantity" in raw:
            # Stripe's own refusal: a metered item bills its meter's usage, not a quantity.
            raise StripeError(
                400,
                "Quantity should not be specified where usage_type is `metered`. Remove "
                f"quantity from `{name}`.",
                param=f"{name}[quantity]",
            )
        items.append(
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": _new_metadata(raw.get("metadata", {}), f"{name}[metadata]"),
                "plan": price_id,
                "price": price_id,
                "quantity": None
                if metered
                else _int(raw.get("quantity", 1), f"{name}[quantity]", minimum=0),
                "tax_rates": _tax_rates(raw.get("tax_rates", []), f"{name}[tax_rates]"),
            }
        )
        prices.append(price)
    currencies = {p["currency"] for p in prices}
    if len(currencies) > 1:
        raise StripeError(400, "All prices in a phase must be in the same currency.", param=prefix)
    return items, prices


def _phase_end(raw: Obj, prefix: str, start: int, price: Obj, last: bool) -> int:
    given = [key for key in ("end_date", "iterations", "duration") if key in raw]
    if len(given) > 1:
        raise _only_one_of(*(f"{prefix}[{key}]" for key in given))
    if "end_date" in raw:
        end = _timestamp(raw["end_date"], f"{prefix}[end_date]")
    elif "duration" in raw:
        duration = _dict(raw["duration"], f"{prefix}[duration]")
        _check_params(duration, {"interval", "interval_count"}, prefix=f"{prefix}[duration]")
        if "interval" not in duration:
            raise _missing(f"{prefix}[duration][interval]")
        end = _add_interval(
            start,
            _choice(duration["interval"], f"{prefix}[duration][interval]", _INTERVALS),
            _int(
                duration.get("interval_count", 1), f"{prefix}[duration][interval_count]", minimum=1
            ),
        )
    elif "iterations" in raw or last:
        # A number of the price's billing periods; the last phase defaults to one.
        iterations = _int(raw.get("iterations", 1), f"{prefix}[iterations]", minimum=1)
        recurring = price["recurring"]
        end = _add_interval(start, recurring["interval"], recurring["interval_count"] * iterations)
    else:
        raise StripeError(
            400,
            "Every phase but the last needs `end_date`, `duration` or `iterations`.",
            param=f"{prefix}[end_date]",
            code="parameter_missing",
        )
    if end <= start:
        raise StripeError(400, "A phase must end after it starts.", param=f"{prefix}[end_date]")
    return end


def _phases(value: Any, start: int | None, default_collection: str) -> list[Obj]:
    """Phases in Stripe's shape, each starting where the one before ends."""
    raw_phases = _list(value, "phases")
    if not raw_phases:
        raise _missing("phases")
    template = stripe_fixture("subscription_schedule")["phases"][0]
    phases: list[Obj] = []
    for i, raw in enumerate(raw_phases):
        prefix = f"phases[{i}]"
        raw = _dict(raw, prefix)
        _check_params(raw, _PHASE_PARAMS, prefix=prefix, unsupported=_PHASE_UNSUPPORTED)
        items, prices = _phase_items(raw.get("items"), f"{prefix}[items]")
        phase_start = phases[-1]["end_date"] if phases else start
        if "start_date" in raw:
            given = _timestamp(raw["start_date"], f"{prefix}[start_date]")
            if phase_start is not None and given != phase_start:
                raise StripeError(
                    400,
                    "Phases must follow one another: each starts when the one before ends "
                    "(the first, on the schedule's start_date).",
                    param=f"{prefix}[start_date]",
                )
            phase_start = given
        if phase_start is None:
            raise _missing("start_date")
        end = _phase_end(raw, prefix, phase_start, prices[0], last=i == len(raw_phases) - 1)
        collection = raw.get("collection_method")
        if collection is not None:
            collection = _choice(collection, f"{prefix}[collection_method]", _COLLECTION_METHODS)
        invoice_settings = None
        if "invoice_settings" in raw:
            days = _days_until_due(raw["invoice_settings"], f"{prefix}[invoice_settings]")
            if days is not None and (collection or default_collection) != "send_invoice":
                raise StripeError(
                    400,
                    "`days_until_due` is only for `collection_method=send_invoice`.",
                    param=f"{prefix}[invoice_settings][days_until_due]",
                )
            invoice_settings = copy.deepcopy(template["invoice_settings"])
            invoice_settings.update(days_until_due=days, issuer=None)
        phase = copy.deepcopy(template)
        phase.update(
            add_invoice_items=[],
            application_fee_percent=None,
            billing_cycle_anchor=None
            if raw.get("billing_cycle_anchor") is None
            else _choice(
                raw["billing_cycle_anchor"],
                f"{prefix}[billing_cycle_anchor]",
                ("automatic", "phase_start"),
            ),
            billing_thresholds=None,
            collection_method=collection,
            currency=_currency(raw["currency"], f"{prefix}[currency]")
            if "currency" in raw
            else prices[0]["currency"],
            default_payment_method=None,
            default_tax_rates=_tax_rates(
                raw.get("default_tax_rates", []), f"{prefix}[default_tax_rates]"
            ),
            description=_optional_string(raw.get("description"), f"{prefix}[description]"),
            discounts=[],
            end_date=end,
            invoice_settings=invoice_settings,
            items=items,
            metadata=_new_metadata(raw.get("metadata", {}), f"{prefix}[metadata]"),
            on_behalf_of=None,
            proration_behavior=_choice(
                raw.get("proration_behavior", "create_prorations"),
                f"{prefix}[proration_behavior]",
                ("always_invoice", "create_prorations", "none"),
            ),
            start_date=phase_start,
            transfer_data=None,
            trial_end=None
            if raw.get("trial_end") is None
            else _timestamp(raw["trial_end"], f"{prefix}[trial_end]"),
        )
        if "automatic_tax" in raw:
            phase["automatic_tax"] = _automatic_tax(
                raw["automatic_tax"], f"{prefix}[automatic_tax]"
            )
        phases.append(phase)
    return phases


def _refresh_schedule(schedule: Obj, now: int | None = None) -> None:
    """Status and current phase as of now: schedules move on by themselves, as time passes."""
    if schedule["status"] not in _OPEN_STATUSES:
        return
    now = _now() if now is None else now
    phases = schedule["phases"]
    start, end = phases[0]["start_date"], phases[-1]["end_date"]
    current = next((p for p in phases if p["start_date"] <= now < p["end_date"]), None)
    schedule["current_phase"] = (
        None
        if current is None
        else {"start_date": current["start_date"], "end_date": current["end_date"]}
    )
    if now < start:
        schedule["status"] = "not_started"
    elif now < end:
        schedule["status"] = "active"
    elif schedule["end_behavior"] == "cancel":
        schedule.update(status="completed", completed_at=end)
    else:
        schedule.update(
            status="released",
            released_at=end,
            released_subscription=schedule["subscription"],
            subscription=None,
        )


def _existing_customer(value: Any) -> str:
    customer_id = _string(value, "customer")
    if resources.store.get("customer:" + customer_id) is None:
        raise _no_such("customer", customer_id, param="customer")
    return customer_id


def schedule_create(params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(
        params,
        _SCHEDULE_CREATE_PARAMS,
        unsupported={"from_subscription", "customer_account"},
    )
    if "customer" not in params:
        raise _missing("customer")
    customer = _existing_customer(params["customer"])
    start = _timestamp(params["start_date"], "start_date") if "start_date" in params else None
    default_settings = _default_settings(params.get("default_settings", {}))
    phases = _phases(params.get("phases"), start, default_settings["collection_method"])
    schedule = stripe_fixture("subscription_schedule")
    billing_mode = schedule["billing_mode"]
    if "billing_mode" in params:
        raw_mode = _dict(params["billing_mode"], "billing_mode")
        _check_params(
            raw_mode, {"type", "flexible"}, prefix="billing_mode", unsupported={"flexible"}
        )
        billing_mode["type"] = _choice(
            raw_mode.get("type"), "billing_mode[type]", ("classic", "flexible")
        )
    schedule.update(
        application=None,
        billing_mode=billing_mode,
        canceled_at=None,
        completed_at=None,
        created=_now(),
        current_phase=None,
        customer=customer,
        customer_account=None,
        default_settings=default_settings,
        end_behavior=_choice(
            params.get("end_behavior", "release"), "end_behavior", ("cancel", "release")
        ),
        id=new_id("subscription_schedule"),
        livemode=False,
        metadata=_new_metadata(params.get("metadata", {})),
        phases=phases,
        released_at=None,
        released_subscription=None,
        status="not_started",
        subscription=None,
        test_clock=None,
    )
    _refresh_schedule(schedule)
    STORE.put(schedule)
    emit_event("subscription_schedule.created", schedule)
    return export(schedule, expand)


def schedule_retrieve(schedule_id: str, params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(params, ())
    schedule = STORE.get("subscription_schedule", schedule_id)
    _refresh_schedule(schedule)
    return export(schedule, expand)


def _open_schedule(schedule_id: str, action: str) -> Obj:
    schedule = STORE.get("subscription_schedule", schedule_id)
    _refresh_schedule(schedule)
    if schedule["status"] not in _OPEN_STATUSES:
        raise StripeError(
            400,
            f"You cannot {action} this subscription schedule because it has a status of "
            f"{schedule['status']}.",
        )
    return schedule


def schedule_update(schedule_id: str, params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(params, _SCHEDULE_UPDATE_PARAMS)
    schedule = _open_schedule(schedule_id, "update")
    updated = copy.deepcopy(schedule)
    if "proration_behavior" in params:
        _choice(
            params["proration_behavior"],
            "proration_behavior",
            ("always_invoice", "create_prorations", "none"),
        )
    if "default_settings" in params:
        updated["default_settings"] = _default_settings(
            params["default_settings"], current=schedule["default_settings"]
        )
    if "end_behavior" in params:
        updated["end_behavior"] = _choice(
            params["end_behavior"], "end_behavior", ("cancel", "release")
        )
    if "metadata" in params:
        metadata = _metadata(params["metadata"])
        updated["metadata"] = _merge_metadata(schedule["metadata"], metadata) if metadata else {}
    if "phases" in params:
        # The phases sent replace them all; the first starts where it did unless told otherwise.
        start = (
            None if _first_phase_moves(params["phases"]) else schedule["phases"][0]["start_date"]
        )
        updated["phases"] = _phases(
            params["phases"], start, updated["default_settings"]["collection_method"]
        )
    _refresh_schedule(updated)
    previous = _changes(schedule, updated)
    schedule.clear()
    schedule.update(updated)
    if previous:
        emit_event("subscription_schedule.updated", schedule, previous)
    return export(schedule, expand)


def _first_phase_moves(raw_phases: Any) -> bool:
    return (
        isinstance(raw_phases, list)
        and bool(raw_phases)
        and isinstance(raw_phases[0], dict)
        and "start_date" in raw_phases[0]
    )


def _close_schedule(schedule_id: str, params: Obj, known: set[str], action: str) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(params, known)
    schedule = _open_schedule(schedule_id, action)
    before = copy.deepcopy(schedule)
    now = _now()
    if action == "cancel":
        schedule.update(status="canceled", canceled_at=now, current_phase=None)
        event_type = "subscription_schedule.canceled"
    else:
        schedule.update(
            status="released",
            released_at=now,
            released_subscription=schedule["subscription"],
            subscription=None,
            current_phase=None,
        )
        event_type = "subscription_schedule.released"
    emit_event(event_type, schedule, _changes(before, schedule))
    return export(schedule, expand)


def schedule_cancel(schedule_id: str, params: Obj) -> Obj:
    return _close_schedule(schedule_id, params, {"invoice_now", "prorate"}, "cancel")


def schedule_release(schedule_id: str, params: Obj) -> Obj:
    return _close_schedule(schedule_id, params, {"preserve_cancel_date"}, "release")


def schedule_list(params: Obj) -> Obj:
    _check_params(
        params,
        _LIST_PARAMS | {"canceled_at", "completed_at", "customer", "released_at", "scheduled"},
    )
    schedules = STORE.all("subscription_schedule")
    for schedule in schedules:
        _refresh_schedule(schedule)
    filters = _field_filters(params, ("customer",))
    for field in ("canceled_at", "completed_at", "released_at"):
        if field in params:
            in_range = _range_filter(params[field], field)
            filters.append(lambda s, field=field, in_range=in_range: in_range(s[field]))
    if "scheduled" in params:
        scheduled = _bool(params["scheduled"], "scheduled")
        filters.append(lambda s: (s["status"] == "not_started") is scheduled)
    return list_object(
        schedules,
        params,
        url="/v1/subscription_schedules",
        object_name="subscription_schedule",
        filters=filters,
    )


# --- Objects Stripe makes itself: seeded by the tests, then read through the API ------------


def _deep_merge(base: Obj, fields: Obj) -> Obj:
    """`fields` written over `base`; nested objects are merged, not replaced."""
    for key, value in fields.items():
        if isinstance(value, dict) and value and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def seed(spec: Any) -> Obj:
    """Store Stripe's example `spec["object"]` with `spec`'s fields over it; an id already
    stored is updated instead. Sends the event Stripe would."""
    if not isinstance(spec, dict) or spec.get("object") not in SEED_EVENTS:
        raise StripeError(
            400, f"`object` must be one of {', '.join(sorted(SEED_EVENTS))}.", param="object"
        )
    object_name = spec["object"]
    created_type, updated_type = SEED_EVENTS[object_name]
    existing = STORE.find(spec["id"]) if isinstance(spec.get("id"), str) else None
    if existing is not None:
        if existing["object"] != object_name:
            raise StripeError(400, f"{spec['id']} is a {existing['object']}.", param="id")
        before = copy.deepcopy(existing)
        _deep_merge(existing, spec)
        emit_event(updated_type, existing, _changes(before, existing))
        return public_copy(existing)
    obj = _deep_merge(
        stripe_fixture(object_name),
        {"id": new_id(object_name), "created": _now(), "livemode": False},
    )
    if object_name == "tax_id" and "customer" in spec and "owner" not in spec:
        obj["owner"] = {"type": "customer", "customer": spec["customer"], "customer_account": None}
    if object_name == "price":
        obj.setdefault("tiers", None)
        obj.setdefault("currency_options", {})
    _deep_merge(obj, spec)
    STORE.put(obj)
    emit_event(created_type, obj)
    return public_copy(obj)


def seeded_retrieve(object_name: str, object_id: str, params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(params, ())
    return export(STORE.get(object_name, object_id), expand)


def seeded_list(object_name: str, params: Obj, *, url: str, fields: Iterable[str] = ()) -> Obj:
    fields = tuple(fields)
    _check_params(params, _LIST_PARAMS | set(fields))
    return list_object(
        STORE.all(object_name),
        params,
        url=url,
        object_name=object_name,
        filters=_field_filters(params, fields),
    )


def _localstripe_tax_ids() -> list[Obj]:
    """Tax ids localstripe keeps on its customers (its store also keeps deleted ones)."""
    customers = [obj for key, obj in resources.store.items() if key.startswith("customer:")]
    return [stripe_shape(txi._export()) for c in customers for txi in c.tax_ids._list]


def tax_id_list(params: Obj) -> Obj:
    _check_params(params, _LIST_PARAMS | {"owner"})
    filters: list[Callable[[Obj], bool]] = []
    if "owner" in params:
        owner = _dict(params["owner"], "owner")
        _check_params(owner, {"account", "customer", "customer_account", "type"}, prefix="owner")
        filters.append(lambda t: all(t["owner"].get(k) == v for k, v in owner.items()))
    return list_object(
        STORE.all("tax_id") + _localstripe_tax_ids(),
        params,
        url="/v1/tax_ids",
        object_name="tax_id",
        filters=filters,
    )


def tax_id_retrieve(tax_id: str, params: Obj) -> Obj:
    params = dict(params)
    expand = expand_list(params.pop("expand", None))
    _check_params(params, ())
    obj = STORE.find(tax_id) or next((t for t in _localstripe_tax_ids() if t["id"] == tax_id), None)
    if obj is None:
        raise _no_such("tax_id", tax_id, param="id", status=404)
    return export(obj, expand)
