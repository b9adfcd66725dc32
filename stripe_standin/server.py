"""A stateful Stripe for the tests: localstripe, served on loopback, with its gaps filled.

Run as its own process: `python -m stripe_standin.server --port 8420`.

localstripe cannot serve dj-stripe as it is (see README, "The local Stripe stand-in"). This
launcher keeps localstripe's own resources (customers, products, plans, subscriptions and their
items, invoices and lines, invoice items, payment methods, charges, refunds, tax rates, coupons,
customers' tax ids, events, webhooks) and adds, at the HTTP layer, what is missing, with payloads
copied from Stripe's own examples (fixtures/fixtures3.json):

- `GET /v1/account` and `GET /v1/accounts`, which dj-stripe calls before any sync;
- prices: `POST /v1/prices`, `GET /v1/prices[/{id}]`, `POST /v1/prices/{id}` (tiers and
  currency_options only when expanded, as in Stripe); the product must exist in localstripe;
- subscription schedules: create, retrieve, update, list, `/{id}/cancel`, `/{id}/release`;
- `POST /v1/invoiceitems` with `invoice` (invoice_items.py): the item goes onto that draft as a
  line (`parent.type: invoice_item_details`, its metadata and period, `pricing` with a null
  price, `taxes`), the draft's totals grow, `invoiceitem.created` and `invoice.updated` are
  sent; refused as Stripe refuses it (an unknown invoice or customer, an invoice that is not a
  draft, another customer's, another currency); Stripe's `period[start]`/`period[end]` taken
  with or without `invoice`. It goes through localstripe's own route for the path, which
  aiohttp answers before any added later;
- `payment_settings.payment_method_types` on subscriptions and invoices (payment_settings.py):
  kept, inherited by a subscription's invoices, refused for a type Stripe does not know;
- billing meters (meters.py): meters (create, retrieve, list), meter events, their cancelling
  adjustments and event summaries, refused as Stripe refuses them (timestamps more than 35 days
  back or 5 minutes ahead, values not whole numbers, an identifier sent twice within 24 hours,
  a cancel after 24 hours); what Stripe reports only later (no meter for the event name, an
  unknown customer) comes as a v2 thin event (`v1.billing.meter.error_report_triggered`,
  `v1.billing.meter.no_meter_found`), sent signed to the webhooks and read at
  `GET /v2/core/events[/{id}]`;
- objects only Stripe makes, seeded with `POST /_config/objects` and then read through the API:
  `GET /v1/disputes[/{id}]`, `/v1/reviews[/{id}]`, `/v1/radar/early_fraud_warnings[/{id}]`,
  `/v1/mandates/{id}`, `/v1/tax_ids[/{id}]` (with localstripe's customers' tax ids);
- Radar (radar.py): `POST /v1/reviews/{id}/approve` (a closed review refused), refunds with
  Stripe's `reason` and refused for a charge already refunded in full; a refund as fraudulent
  closes the charge's open review, a full refund leaves its early fraud warnings not actionable;
- for those: Stripe's lists (newest first, `limit`, `starting_after`, `ending_before`,
  `created[gte|gt|lte|lt]`), Stripe's errors naming the parameter, and a localstripe Event for
  every write (`GET /v1/events`, webhooks) -- see store.py;
- localstripe's own answers put in Stripe's shape: subscription items carry `subscription`,
  `default_tax_rates` is `[]` not null, invoices, lines and items carry `discounts`, tax ids
  carry `owner`; events and webhooks too;
- `expand[]` paths localstripe cannot follow (`discounts`, `lines.data.discounts`, ...) left out
  instead of failing the request with "Bad expand"; the others expanded as localstripe would;
- a missing object answered as Stripe does (`No such customer: 'cus_...'`, code
  `resource_missing`), where localstripe says only "Not Found";
- Stripe's idempotency: a POST's response is kept by its `Idempotency-Key` and replayed for the
  same key (`Idempotent-Replayed: true`); the same key with other parameters is an
  `idempotency_error`; a key is forgotten 24 hours after its first answer (by the stand-in's
  clock), as Stripe may forget it;
- collections (collections.py): `POST /v1/invoices/{id}/pay` declining as Stripe does (402
  `card_declined` with a `decline_code`, `attempt_count` and `next_payment_attempt` moved) for
  a customer paying with `pm_card_chargeCustomerFail`, and `POST /v1/disputes/{id}` taking
  evidence (staged or submitted), refused after the due date and once submitted;
- `GET /v1/customers/search` with `metadata['key']:'value'` (other queries refused by name);
- fault injection, request counting, and the test controls below;
- nothing written to /tmp/localstripe.pickle (shared between runs, and quadratic to rewrite);
- listening on 127.0.0.1 only, where localstripe itself listens on every interface.

Test controls (JSON, no API key needed):

- `DELETE /_config/data`: empties localstripe, the store, the meter events and error reports,
  the idempotency keys, the counters and the registered webhooks, turns faults off and puts the
  clock back to real time (each test starts from nothing);
- `POST /_config/objects`: `{"object": "dispute", ...fields}` or a list of them; stores Stripe's
  example object with the fields over it (nested objects merged), sends the event Stripe would,
  answers the objects; an `id` already stored updates that object;
- `POST /_config/faults`: `{"rate": 0.3, "kinds": ["429", "500", "timeout"], "seed": 7,
  "methods": ["GET", "POST"], "paths": ["/v1/invoices"], "timeout_seconds": 3}`; that share of
  `/v1/...` requests fails. 429 (`rate_limit`) and 500 (`api_error`) are answered before the
  request reaches Stripe's logic, so nothing is written and nothing is kept for idempotency;
  "timeout" lets the request through and answers `timeout_seconds` late, as a slow Stripe does:
  the write happened, the client gave up, and a retry with the same key gets the kept answer.
  `GET` shows the setting, `DELETE` turns faults off;
- `GET /_config/stats`: `{"requests": n, "by_path": {...}, "faults": n, "faults_by_kind": {...},
  "idempotent_replays": n}` for `/v1/...` requests;
- `POST /_config/clock`: `{"advance": seconds}` or `{"now": timestamp}` moves the stand-in's
  now: the time it stamps on its own objects (`created`, a meter event's receipt), the limits on
  meter event timestamps, the 24 hours in which an event can be cancelled or its identifier is
  taken, and the phases of subscription schedules. localstripe's own objects keep real time, and
  webhooks are signed with real time. `GET` shows `{"now": ..., "offset_seconds": ...}`;
- `POST /_config/subscription_schedules/{id}/invoice`: `{"period_start": ts, "period_end": ts}`
  (Unix seconds, end excluded) bills that period of the schedule as Stripe would when time
  passes: a draft invoice for its customer from the phase in force at `period_start` (licensed
  items by quantity, metered ones by what their meter aggregates over the period, tiers as
  Stripe's lines show them, the phase's tax rates), answered in Stripe's shape, read afterwards
  through `/v1/invoices`, sent as `invoice.created`; refused for an unknown, canceled or
  completed schedule and a period no phase covers (schedule_invoices.py);
- `POST /_config/webhooks/{id}` (localstripe's own): form fields `url`, `secret`.

Still as localstripe has it: its own lists come oldest first and take neither `ending_before`
nor `created` filters; `GET /v1/subscription_items?subscription=...` and paging through
`/v1/invoices/{id}/lines` or `/v1/customers/{id}/tax_ids` are refused; subscriptions take plans
(not the prices above) and one item; it invoices only customers with a subscription; customers
carry `tax_ids`, `sources` and `subscriptions` even when not expanded; webhooks go out a second
after the event, so a receiver may get the events of the test before.
"""

import argparse
import asyncio
import json
import logging
import random
import re
import secrets
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from localstripe import resources, server, webhooks

from stripe_standin import (
    collections,
    credit_notes,
    invoice_items,
    meters,
    payment_settings,
    radar,
    schedule_invoices,
)
from stripe_standin import store as standin
from stripe_standin.store import FIXTURES_PATH, StripeError, stripe_fixture

__all__ = ["FIXTURES_PATH", "build_app", "stripe_fixture"]

STANDIN_ACCOUNT_ID = "acct_1BackofficeStandin"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _account() -> dict[str, Any]:
    account = stripe_fixture("account")
    account.update(
        id=STANDIN_ACCOUNT_ID,
        email="finance@example.com",
        default_currency="usd",
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
    )
    account["business_profile"]["name"] = "Back-office test account"
    account["settings"]["dashboard"]["display_name"] = "Back-office test account"
    account["external_accounts"]["url"] = f"/v1/accounts/{STANDIN_ACCOUNT_ID}/external_accounts"
    return account


async def retrieve_account(request: web.Request) -> web.Response:
    return web.json_response(_account())


async def list_accounts(request: web.Request) -> web.Response:
    return web.json_response(
        {"object": "list", "url": "/v1/accounts", "has_more": False, "data": [_account()]}
    )


# --- Routes for what localstripe lacks ------------------------------------------------------

# The handlers added here: localstripe's request and response fixes leave them alone.
OWN_HANDLERS: set[Handler] = {retrieve_account, list_accounts}


async def _params(request: web.Request) -> dict[str, Any]:
    """The request's parameters, decoded as localstripe decodes them (`a[b][0]=c`)."""
    if request.method == "GET":
        return dict(server.unflatten_data(request.query))
    data = await server.get_post_data(request)
    return dict(data) if data else {}


def _api(action: Callable[..., dict[str, Any]]) -> Handler:
    """An endpoint calling `action(params)`, or `action(id, params)` under `/{id}`."""

    async def handle(request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        ids = [request.match_info["id"]] if "id" in request.match_info else []
        return web.json_response(action(*ids, params))

    return handle


def _seeded(object_name: str, url: str, fields: tuple[str, ...] = ()) -> tuple[Handler, Handler]:
    """List and retrieve endpoints for objects the tests seed."""
    listing = _api(lambda params: standin.seeded_list(object_name, params, url=url, fields=fields))
    retrieving = _api(
        lambda object_id, params: standin.seeded_retrieve(object_name, object_id, params)
    )
    return listing, retrieving


_TYPES_KEY = re.compile(r"^types(\[\d*\])?$")


async def list_core_events(request: web.Request) -> web.Response:
    """GET /v2/core/events: `types` comes as `types=a&types=b` or `types[0]=a&types[1]=b`."""
    params: dict[str, Any] = {}
    types = []
    for name, value in request.query.items():
        if _TYPES_KEY.match(name):
            types.append(value)
        else:
            params[name] = value
    if types:
        params["types"] = types
    return web.json_response(meters.core_event_list(params))


def _invoice_action(action: str) -> Handler:
    """POST /v1/invoices/{id}/finalize, /send, /mark_uncollectible, which localstripe lacks."""

    async def handle(request: web.Request) -> web.StreamResponse:
        obj = resources.Invoice._api_retrieve(request.match_info["id"])
        if action == "finalize":
            if obj.status != "draft":
                raise StripeError(400, f"This invoice is already {obj.status}.")
            obj._finalize()
            obj.number = f"SI-{int(time.time())}-{obj.id[-4:]}"
            obj.automatically_finalizes_at = None
            webhooks.schedule_webhook(resources.Event("invoice.finalized", obj))
        elif action == "mark_uncollectible":
            if obj.status != "open":
                raise StripeError(400, "Only an open invoice can be marked uncollectible.")
            obj._uncollectible = True
            webhooks.schedule_webhook(resources.Event("invoice.marked_uncollectible", obj))
        elif action == "send" and obj.status != "open":
            raise StripeError(400, "Only an open invoice is sent.")
        return web.json_response(standin.stripe_shape(obj._export()))

    return handle


def _standin_routes() -> list[tuple[str, str, Handler]]:
    disputes, dispute = _seeded("dispute", "/v1/disputes", ("charge", "payment_intent"))
    reviews, review = _seeded("review", "/v1/reviews")
    warnings, warning = _seeded(
        "radar.early_fraud_warning", "/v1/radar/early_fraud_warnings", ("charge", "payment_intent")
    )
    _, mandate = _seeded("mandate", "")  # Stripe has no list of mandates
    schedules = "/v1/subscription_schedules"
    return [
        ("GET", "/v1/account", retrieve_account),
        ("GET", "/v1/accounts", list_accounts),
        ("POST", "/v1/prices", _api(standin.price_create)),
        ("GET", "/v1/prices", _api(standin.price_list)),
        ("GET", "/v1/prices/search", _api(standin.price_search)),
        ("GET", "/v1/prices/{id}", _api(standin.price_retrieve)),
        ("POST", "/v1/prices/{id}", _api(standin.price_update)),
        ("GET", "/v1/credit_notes/preview", _api(credit_notes.credit_note_preview)),
        ("POST", "/v1/credit_notes", _api(credit_notes.credit_note_create)),
        ("GET", "/v1/credit_notes", _api(credit_notes.credit_note_list)),
        ("GET", "/v1/credit_notes/{id}", _api(credit_notes.credit_note_retrieve)),
        ("POST", "/v1/credit_notes/{id}", _api(credit_notes.credit_note_update)),
        ("POST", "/v1/credit_notes/{id}/void", _api(credit_notes.credit_note_void)),
        ("POST", "/v1/invoices/{id}/finalize", _invoice_action("finalize")),
        ("POST", "/v1/invoices/{id}/send", _invoice_action("send")),
        ("POST", "/v1/invoices/{id}/mark_uncollectible", _invoice_action("mark_uncollectible")),
        ("POST", "/v1/billing/meters", _api(meters.meter_create)),
        ("GET", "/v1/billing/meters", _api(meters.meter_list)),
        ("GET", "/v1/billing/meters/{id}", _api(meters.meter_retrieve)),
        ("GET", "/v1/billing/meters/{id}/event_summaries", _api(meters.event_summary_list)),
        ("POST", "/v1/billing/meter_events", _api(meters.meter_event_create)),
        ("POST", "/v1/billing/meter_event_adjustments", _api(meters.meter_event_adjustment_create)),
        ("GET", "/v2/core/events", list_core_events),
        ("GET", "/v2/core/events/{id}", _api(meters.core_event_retrieve)),
        ("POST", schedules, _api(standin.schedule_create)),
        ("GET", schedules, _api(standin.schedule_list)),
        ("GET", schedules + "/{id}", _api(standin.schedule_retrieve)),
        ("POST", schedules + "/{id}", _api(standin.schedule_update)),
        ("POST", schedules + "/{id}/cancel", _api(standin.schedule_cancel)),
        ("POST", schedules + "/{id}/release", _api(standin.schedule_release)),
        ("GET", "/v1/disputes", disputes),
        ("GET", "/v1/disputes/{id}", dispute),
        ("POST", "/v1/disputes/{id}", _api(collections.dispute_update)),
        ("GET", "/v1/reviews", reviews),
        ("GET", "/v1/reviews/{id}", review),
        ("POST", "/v1/reviews/{id}/approve", _api(radar.review_approve)),
        ("GET", "/v1/radar/early_fraud_warnings", warnings),
        ("GET", "/v1/radar/early_fraud_warnings/{id}", warning),
        ("GET", "/v1/mandates/{id}", mandate),
        ("GET", "/v1/tax_ids", _api(standin.tax_id_list)),
        ("GET", "/v1/tax_ids/{id}", _api(standin.tax_id_retrieve)),
    ]


# --- The network between client and Stripe: counters, faults, idempotency -------------------

FAULT_KINDS = ("429", "500", "timeout")


def _stripe_error(
    status: int, error_type: str, message: str, code: str | None = None
) -> web.Response:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    return web.json_response({"error": error}, status=status)


@dataclass
class Faults:
    rate: float = 0.0
    kinds: tuple[str, ...] = ("500",)
    methods: frozenset[str] = frozenset({"GET", "POST", "DELETE"})
    paths: tuple[str, ...] = ("/v1/",)
    timeout_seconds: float = 3.0
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_spec(cls, spec: Any) -> "Faults":
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        unknown = set(spec) - {"rate", "kinds", "seed", "methods", "paths", "timeout_seconds"}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        rate = float(spec.get("rate", 0.0))
        kinds = tuple(str(kind) for kind in spec.get("kinds", ["500"]))
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a share of requests, from 0 to 1")
        if not kinds or not set(kinds) <= set(FAULT_KINDS):
            raise ValueError(f"kinds are some of {', '.join(FAULT_KINDS)}")
        seed = spec.get("seed")
        timeout_seconds = float(spec.get("timeout_seconds", 3.0))
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        return cls(
            rate=rate,
            kinds=kinds,
            methods=frozenset(m.upper() for m in spec.get("methods", ["GET", "POST", "DELETE"])),
            paths=tuple(spec.get("paths", ["/v1/"])),
            timeout_seconds=timeout_seconds,
            seed=seed,
            # Seeded, so that a failing run can be replayed request for request.
            rng=random.Random(seed),  # noqa: S311 (not for security)
        )

    def describe(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "kinds": list(self.kinds),
            "methods": sorted(self.methods),
            "paths": list(self.paths),
            "timeout_seconds": self.timeout_seconds,
            "seed": self.seed,
        }

    def draw(self, request: web.Request) -> str | None:
        """The fault this request meets, if any."""
        if self.rate <= 0 or request.method not in self.methods:
            return None
        if not request.path.startswith(self.paths):
            return None
        if self.rng.random() >= self.rate:
            return None
        return self.rng.choice(self.kinds)


@dataclass
class Stats:
    requests: int = 0
    by_path: Counter[str] = field(default_factory=Counter)
    faults: int = 0
    faults_by_kind: Counter[str] = field(default_factory=Counter)
    idempotent_replays: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_path": dict(self.by_path),
            "faults": self.faults,
            "faults_by_kind": dict(self.faults_by_kind),
            "idempotent_replays": self.idempotent_replays,
        }


@dataclass(frozen=True)
class KeptResponse:
    """The first answer to an idempotency key, and what it was an answer to."""

    request: tuple[str, str, bytes]  # method, path, body
    status: int
    body: bytes
    kept_at: int = 0  # the stand-in's clock


# Stripe keeps a key "at least 24 hours" and may forget it after; the stand-in forgets it at 24
# hours by its clock (moved by the tests), so a retry after that is a new request.
KEY_KEPT_SECONDS = 24 * 3600


# Answers Stripe does not keep for a key: the request failed before any work was done
# (validation, authentication, a missing object, a conflict, a rate limit).
_NOT_KEPT = frozenset({400, 401, 404, 409, 429})


class NetworkState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.faults = Faults()
        self.stats = Stats()
        # (API key, Idempotency-Key) -> the kept answer, or None while the first is running.
        self.idempotency: dict[tuple[str, str], KeptResponse | None] = {}


NETWORK = NetworkState()


async def _idempotent(request: web.Request, handler: Handler, key: str) -> web.StreamResponse:
    # Stripe scopes keys to the account; the API key stands for it here.
    scope = (request.headers.get("Authorization", ""), key)
    this_request = (request.method, request.path, await request.read())
    kept_responses = NETWORK.idempotency
    kept_then = kept_responses.get(scope)
    if kept_then is not None and standin._now() - kept_then.kept_at >= KEY_KEPT_SECONDS:
        del kept_responses[scope]  # forgotten, as Stripe may after 24 hours
    if scope in kept_responses:
        kept = kept_responses[scope]
        if kept is None:
            return _stripe_error(
                409,
                "idempotency_error",
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                f"going through): {key}. Please try again later.",
            )
        if kept.request != this_request:
            return _stripe_error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
            )
        NETWORK.stats.idempotent_replays += 1
        return web.Response(
            body=kept.body,
            status=kept.status,
            content_type="application/json",
            headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
        )
    kept_responses[scope] = None
    try:
        response = await handler(request)
    except BaseException:
        kept_responses.pop(scope, None)
        raise
    body = response.body if isinstance(response, web.Response) else None
    if isinstance(body, bytes) and response.status not in _NOT_KEPT:
        kept_responses[scope] = KeptResponse(this_request, response.status, body, standin._now())
    else:
        kept_responses.pop(scope, None)
    response.headers["Idempotency-Key"] = key
    return response


@web.middleware
async def stripe_network(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: counts `/v1/` requests, injects faults, keeps and replays idempotent POSTs."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    stats = NETWORK.stats
    stats.requests += 1
    stats.by_path[request.path] += 1
    fault = NETWORK.faults.draw(request)
    timeout_seconds = NETWORK.faults.timeout_seconds
    if fault:
        stats.faults += 1
        stats.faults_by_kind[fault] += 1
    response = await _answer(request, handler, fault)
    response.headers.setdefault("Request-Id", "req_" + secrets.token_hex(7))
    if fault == "timeout":
        # After the work is done, as when Stripe is slow to answer: the client gives up, the
        # write stays, and a retry with the same key gets the answer kept for it.
        await asyncio.sleep(timeout_seconds)
    return response


async def _answer(request: web.Request, handler: Handler, fault: str | None) -> web.StreamResponse:
    # A 429 or 500 comes before the request reaches Stripe's logic: nothing is written, and
    # nothing kept for the idempotency key.
    if fault == "429":
        return _stripe_error(
            429,
            "invalid_request_error",
            "Too many requests hit the API too quickly. We recommend an exponential backoff of "
            "your requests.",
            code="rate_limit",
        )
    if fault == "500":
        return _stripe_error(500, "api_error", "An unknown error occurred (injected by the test).")
    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    return await (_idempotent(request, handler, key) if key else handler(request))


@web.middleware
async def flush_standin_too(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`DELETE /_config/data` empties the stand-in's own state along with localstripe's."""
    response = await handler(request)
    if request.method == "DELETE" and request.path == "/_config/data":
        standin.STORE.clear()
        standin.CLOCK.reset()
        meters.LEDGER.clear()
        NETWORK.reset()
        # localstripe keeps webhook receivers across flushes; a test's receiver is gone after it.
        webhooks._webhooks.clear()
    return response


# --- localstripe's own resources: requests it would refuse, answers not shaped like Stripe's ---

_EXPAND_KEY = re.compile(r"^expand(\[\d*\])?$")


async def _without_expand(request: web.Request) -> tuple[web.Request, list[str]]:
    """The request with its `expand` taken out, and the paths it asked for."""
    if request.method != "POST":
        query = request.rel_url.query
        expand = [v for k, v in query.items() if _EXPAND_KEY.match(k)]
        if not expand:
            return request, []
        standin.check_expand(expand)
        kept = [(k, v) for k, v in query.items() if not _EXPAND_KEY.match(k)]
        return request.clone(rel_url=request.rel_url.with_query(kept)), expand
    body = await request.read()
    if request.content_type == "application/json":
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return request, []
        if not isinstance(data, dict) or "expand" not in data:
            return request, []
        expand = standin.expand_list(data.pop("expand"))
        new_body = json.dumps(data).encode()
    else:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        expand = [v for k, v in pairs if _EXPAND_KEY.match(k)]
        if not expand:
            return request, []
        standin.check_expand(expand)
        new_body = urllib.parse.urlencode([(k, v) for k, v in pairs if not _EXPAND_KEY.match(k)])
        new_body = new_body.encode()
    # aiohttp can neither clone a request whose body was read nor give one another body; the
    # body it has read is cached, and localstripe reads that cache, so the cache is replaced.
    request._read_bytes = new_body
    return request, expand


@web.middleware
async def localstripe_compat(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Expands what it can instead of localstripe failing on `expand`, and puts localstripe's
    answers in Stripe's shape."""
    if not request.path.startswith("/v1/") or request.match_info.handler in OWN_HANDLERS:
        return await handler(request)
    try:
        # Refused as Stripe would, before anything is written.
        request, expand = await _without_expand(request)
        voided = _void_as_stripe(request)
        searched = _search_as_stripe(request)
    except StripeError as error:
        return error.to_response()
    if voided is not None:
        return web.json_response(standin.stripe_shape(voided))
    if searched is not None:
        return web.json_response(searched)
    response = await handler(request)
    if not (
        isinstance(response, web.Response)
        and response.content_type == "application/json"
        and isinstance(response.body, bytes)
    ):
        return response
    payload = json.loads(response.body)
    if response.status < 400:
        standin.expand_paths(payload, expand)
    return web.json_response(standin.stripe_shape(payload), status=response.status)


# localstripe's own objects; prices are the stand-in's (store.price_search).
_SEARCHABLE = {"/v1/customers/search": "customer", "/v1/products/search": "product"}


def _search_as_stripe(request: web.Request) -> dict[str, Any] | None:
    """`GET /v1/customers/search` and `/v1/products/search` (localstripe has no search; its
    `/v1/customers/{id}` would take "search" for an id), by metadata only."""
    kind = _SEARCHABLE.get(request.path) if request.method == "GET" else None
    if kind is None:
        return None
    field, value = standin.metadata_query(request.query.get("query", ""))
    found = [
        standin.stripe_shape(obj._export())
        for stored_as, obj in resources.store.items()
        if stored_as.startswith(f"{kind}:")
        and not getattr(obj, "deleted", False)
        and (getattr(obj, "metadata", None) or {}).get(field) == value
    ]
    return standin.search_result(found, request.path)


_VOID = re.compile(r"^/v1/invoices/(?P<id>[^/]+)/void$")


def _void_as_stripe(request: web.Request) -> dict[str, Any] | None:
    """Stripe voids only finalized invoices, open or uncollectible (a draft is deleted
    instead); localstripe voids drafts and refuses uncollectible ones. The voided invoice
    when it is uncollectible, None for localstripe to void an open one; refused otherwise."""
    found = _VOID.match(request.path)
    if request.method != "POST" or not found:
        return None
    invoice = resources.Invoice._api_retrieve(found["id"])
    if invoice.status == "uncollectible":
        invoice._uncollectible = False
        invoice._voided = True
        invoice.status_transitions["voided_at"] = int(time.time())
        webhooks.schedule_webhook(resources.Event("invoice.voided", invoice))
        return dict(invoice._export())
    if invoice.status != "open":
        raise StripeError(
            400,
            f"You can only void an invoice that is finalized (open or uncollectible); this "
            f"invoice is {invoice.status}.",
            code="invoice_unexpected_state",
        )
    return None


# URL path segment -> the object name Stripe uses in "No such ..." messages.
_OBJECT_NAMES = {
    "customers": "customer",
    "invoices": "invoice",
    "subscriptions": "subscription",
    "products": "product",
    "plans": "plan",
    "prices": "price",
    "tax_rates": "tax_rate",
    "payment_intents": "payment_intent",
    "payment_methods": "payment_method",
    "charges": "charge",
    "refunds": "refund",
    "coupons": "coupon",
}


@web.middleware
async def stripe_shaped_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    parts = request.path.strip("/").split("/")
    generic = isinstance(response, web.Response) and b'"Not Found"' in (response.body or b"")
    if response.status == 404 and generic and len(parts) == 3 and parts[0] == "v1":
        name = _OBJECT_NAMES.get(parts[1], parts[1].rstrip("s"))
        return web.json_response(
            {
                "error": {
                    "code": "resource_missing",
                    "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                    "message": f"No such {name}: '{parts[2]}'",
                    "param": "id",
                    "type": "invalid_request_error",
                }
            },
            status=404,
        )
    return response


def _shape_events_like_stripe() -> None:
    """localstripe's events (listed and sent to webhooks) carry the object in Stripe's shape."""
    original = resources.Event.__init__
    if getattr(original, "stripe_shaped", False):
        return

    def __init__(self: resources.Event, type: str, data: Any) -> None:
        original(self, type, data)
        standin.stripe_shape(self.data)

    __init__.stripe_shaped = True  # type: ignore[attr-defined]
    resources.Event.__init__ = __init__  # type: ignore[method-assign]


def _accept_what_stripe_accepts() -> None:
    """Customers with `tax_exempt`, and tax IDs of every type Stripe has (localstripe knows
    four types and no exemption)."""
    if getattr(resources.Customer.__init__, "stripe_shaped", False):
        return
    customer_init = resources.Customer.__init__

    def customer(self: Any, *args: Any, tax_exempt: str = "none", **kwargs: Any) -> None:
        if tax_exempt not in ("none", "exempt", "reverse"):
            raise StripeError(400, f"Invalid tax_exempt: {tax_exempt!r}", param="tax_exempt")
        customer_init(self, *args, **kwargs)
        self.tax_exempt = tax_exempt

    customer.stripe_shaped = True  # type: ignore[attr-defined]
    resources.Customer.__init__ = customer  # type: ignore[method-assign]

    tax_id_init = resources.TaxId.__init__

    def tax_id(
        self: Any, country: Any = None, customer: Any = None, type: Any = None, value: Any = None
    ) -> None:
        if not isinstance(type, str) or not isinstance(value, str) or not value:
            raise StripeError(400, "A tax ID needs a type and a value.", param="type")
        # Let localstripe check the customer and build the object, then set what was sent.
        tax_id_init(self, country=country or "XX", customer=customer, type="eu_vat", value="X" * 11)
        self.type, self.value = type, value
        if country is None:
            self.country = value[:2] if type == "eu_vat" else type[:2].upper()

    resources.TaxId.__init__ = tax_id  # type: ignore[method-assign]

    product_init = resources.Product.__init__

    def product(self: Any, *args: Any, unit_label: Any = None, **kwargs: Any) -> None:
        product_init(self, *args, **kwargs)
        self.unit_label = unit_label or None

    resources.Product.__init__ = product  # type: ignore[method-assign]

    tax_rate_init = resources.TaxRate.__init__

    def tax_rate(
        self: Any,
        *args: Any,
        country: Any = None,
        state: Any = None,
        tax_type: Any = None,
        **kwargs: Any,
    ) -> None:
        tax_rate_init(self, *args, **kwargs)
        self.country, self.state, self.tax_type = country, state, tax_type

    resources.TaxRate.__init__ = tax_rate  # type: ignore[method-assign]

    tax_rate_update = resources.TaxRate._update

    def tax_rate_changes(self: Any, **data: Any) -> None:
        # Form-encoded booleans arrive as "true"/"false"; localstripe stores them as sent.
        if "active" in data:
            data["active"] = resources.try_convert_to_bool(data["active"])
        tax_rate_update(self, **data)

    resources.TaxRate._update = tax_rate_changes  # type: ignore[method-assign]

    # Invoices: auto_advance, Stripe's hour before it finalizes a subscription draft, and the
    # statuses finalize and mark_uncollectible lead to.
    invoice_init = resources.Invoice.__init__

    def invoice(self: Any, *args: Any, **kwargs: Any) -> None:
        invoice_init(self, *args, **kwargs)
        self.auto_advance = True
        self.automatically_finalizes_at = int(time.time()) + 3600
        self.number = None
        self.custom_fields = None

    resources.Invoice.__init__ = invoice  # type: ignore[method-assign]
    invoice_update = resources.Invoice._update

    def invoice_changes(self: Any, **data: Any) -> None:
        if "auto_advance" in data:
            data["auto_advance"] = resources.try_convert_to_bool(data["auto_advance"])
        if "custom_fields" in data:
            data["custom_fields"] = _custom_fields(data["custom_fields"])
        invoice_update(self, **data)

    resources.Invoice._update = invoice_changes  # type: ignore[method-assign]
    plain_status = resources.Invoice.status

    def status(self: Any) -> str:
        if getattr(self, "_uncollectible", False):
            return "uncollectible"
        return str(plain_status.fget(self))

    resources.Invoice.status = property(status)  # type: ignore[assignment,method-assign]

    # What is owed falls with the credit notes issued before payment (Stripe's amount_due).
    def amount_due(self: Any) -> int:
        return max(0, self.total - (getattr(self, "pre_payment_credit_notes_amount", 0) or 0))

    resources.Invoice.amount_due = property(amount_due)  # type: ignore[assignment,method-assign]

    # Voiding a draft that never had a payment intent: localstripe cancels "None" and fails.
    cancel_intent = resources.PaymentIntent._api_cancel

    def cancel(id: Any, **kwargs: Any) -> Any:
        return None if id is None else cancel_intent(id, **kwargs)

    resources.PaymentIntent._api_cancel = staticmethod(cancel)  # type: ignore[assignment,method-assign]


def _custom_fields(value: Any) -> list[dict[str, str]] | None:
    """An invoice's `custom_fields` as Stripe takes them: up to 4, each a name of up to 40
    characters and a value of up to 140; "" removes them."""
    if value in ("", None):
        return None
    fields = list(value.values()) if isinstance(value, dict) else list(value)
    if len(fields) > 4:
        raise StripeError(400, "You can have at most 4 custom fields.", param="custom_fields")
    shaped = []
    for n, entry in enumerate(fields):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("value"):
            raise StripeError(
                400, "Missing required param: name or value.", param=f"custom_fields[{n}]"
            )
        for part, most in (("name", 40), ("value", 140)):
            if len(str(entry[part])) > most:
                raise StripeError(
                    400,
                    f"Invalid string: {str(entry[part])[:20]}...; must be at most {most} "
                    "characters",
                    param=f"custom_fields[{n}][{part}]",
                )
        shaped.append({"name": str(entry["name"]), "value": str(entry["value"])})
    return shaped


# --- Test controls --------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except json.JSONDecodeError:
        raise StripeError(400, "The body must be JSON.") from None


async def seed_objects(request: web.Request) -> web.Response:
    spec = await _json_body(request)
    if isinstance(spec, list):
        seeded = [standin.seed(item) for item in spec]
        return web.json_response({"object": "list", "data": seeded, "has_more": False})
    return web.json_response(standin.seed(spec))


async def configure_faults(request: web.Request) -> web.Response:
    spec = await _json_body(request)
    try:
        NETWORK.faults = Faults.from_spec(spec)
    except (TypeError, ValueError) as error:
        raise StripeError(400, f"Bad fault setting: {error}") from None
    return web.json_response(NETWORK.faults.describe())


async def show_faults(request: web.Request) -> web.Response:
    return web.json_response(NETWORK.faults.describe())


async def clear_faults(request: web.Request) -> web.Response:
    NETWORK.faults = Faults()
    return web.json_response(NETWORK.faults.describe())


async def show_stats(request: web.Request) -> web.Response:
    return web.json_response(NETWORK.stats.describe())


def _clock() -> dict[str, int]:
    return {"now": standin.CLOCK.now(), "offset_seconds": standin.CLOCK.offset_seconds}


async def set_clock(request: web.Request) -> web.Response:
    spec = await _json_body(request)
    if not isinstance(spec, dict) or len(spec) != 1 or not set(spec) <= {"advance", "now"}:
        raise StripeError(400, 'The clock takes {"advance": seconds} or {"now": timestamp}.')
    ((setting, seconds),) = spec.items()
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise StripeError(400, f"{setting} is a whole number of seconds.")
    if setting == "advance":
        standin.CLOCK.offset_seconds += seconds
    else:
        standin.CLOCK.offset_seconds = seconds - int(time.time())
    return web.json_response(_clock())


async def show_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock())


def build_app() -> web.Application:
    # Keep the store in memory only.
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    _shape_events_like_stripe()
    _accept_what_stripe_accepts()
    payment_settings.keep_payment_settings()
    invoice_items.accept_invoice_items_onto_drafts()
    radar.accept_refunds_as_stripe()
    collections.collections_accept_payments()
    app = server.app
    # Outermost first. The not-found rewrite sits outside localstripe's own error middleware,
    # so that it sees the 404 that middleware renders.
    app.middlewares[0:0] = [
        stripe_network,
        flush_standin_too,
        stripe_shaped_not_found,
        localstripe_compat,
    ]
    # Innermost, inside localstripe's error and authentication middlewares.
    app.middlewares.append(collections.invoice_payments)
    for method, path, handler in _standin_routes():
        OWN_HANDLERS.add(handler)
        app.router.add_route(method, path, handler)
    app.router.add_post("/_config/objects", seed_objects)
    app.router.add_post("/_config/faults", configure_faults)
    app.router.add_get("/_config/faults", show_faults)
    app.router.add_delete("/_config/faults", clear_faults)
    app.router.add_get("/_config/stats", show_stats)
    app.router.add_post(
        "/_config/subscription_schedules/{id}/invoice", schedule_invoices.invoice_schedule_period
    )
    app.router.add_post("/_config/clock", set_clock)
    app.router.add_get("/_config/clock", show_clock)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(build_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
