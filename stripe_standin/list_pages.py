"""A fast local stand-in for Stripe's list endpoints, for the Stripe sync benchmark.

The sync benchmark compares our sync engine with dj-stripe's `djstripe_sync_models Customer
Invoice` on the same data. The local Stripe server (localstripe) lists about 240 customers a
second, so any engine measured against it only measures localstripe. This server generates
customers (with tax IDs) and invoices (with line items) once, in memory, from Stripe's own
example objects (`stripe_standin/fixtures/fixtures3.json`), serialises each object to JSON
once, and answers list pages by joining those bytes, so it is not the bottleneck.

It answers what the two engines ask for: customer and invoice lists, retrievals, invoice lines
and customer tax IDs, `GET /v1/account` and `/v1/accounts`, and empty lists for the payment
sources, payment methods and subscriptions dj-stripe looks up. Any other `/v1/...` request gets
Stripe's 404 shape, and `GET /_stats` counts requests by path (`DELETE /_stats` resets), so the
benchmark can see what each engine asked for.

As a module:

    pages = StripePages(customers=10_000, invoices=10_000, seed=1)
    server = serve_in_thread(pages)          # or serve_in_subprocess(customers=..., ...)
    ... point the engine at server.url ...
    server.stats(); server.stop()
    pages.customer_ids, pages.invoice_ids, pages.line_ids   # what the mirror should hold

Generation is deterministic: the same sizes and seed give the same objects, so a benchmark
can serve from a subprocess and still check its mirror against a `StripePages` of its own.

As a script:

    .venv/bin/python stripe_standin/list_pages.py --customers 10000 --invoices 10000 --port 8500
"""

import argparse
import json
import random
import re
import string
import subprocess
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import requests

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fixtures3.json"
ACCOUNT_ID = "acct_1BenchStandin000"
# 2026-08-01 00:00 UTC, in seconds: the newest object is created just before it.
NEWEST = 1_785_542_400
DAY = 86_400
CUSTOMERS_SPAN = 3 * 365 * DAY
INVOICES_SPAN = 2 * 365 * DAY
JITTER = 3_600  # seconds, at most, of randomness added to evenly spaced creation times
INLINE_LINES = 10  # Stripe embeds at most 10 lines in an invoice; the rest via /lines.

ID_CHARS = string.ascii_letters + string.digits
ID_BYTES = bytes(ord(ID_CHARS[byte % len(ID_CHARS)]) for byte in range(256))
# A path segment that is an object id: a lowercase prefix, then letters and digits with at
# least one digit or capital (so `payment_methods` or `external_accounts` are not ids).
ID_SEGMENT = re.compile(r"^[a-z]+_(?=[A-Za-z0-9]*[A-Z0-9])[A-Za-z0-9]{8,}$")

# country, currency, weight, tax ID types, cities, (locale)
COUNTRIES = (
    ("US", "usd", 35, ("us_ein",), ("New York", "Austin", "Denver", "Seattle"), "en-US"),
    ("DE", "eur", 14, ("eu_vat", "de_stn"), ("Berlin", "Hamburg", "Munich", "Cologne"), "de"),
    ("FR", "eur", 10, ("eu_vat",), ("Paris", "Lyon", "Lille", "Nantes"), "fr"),
    ("NL", "eur", 7, ("eu_vat",), ("Amsterdam", "Utrecht", "Rotterdam"), "nl"),
    ("IE", "eur", 4, ("eu_vat",), ("Dublin", "Cork", "Galway"), "en-IE"),
    ("ES", "eur", 6, ("eu_vat", "es_cif"), ("Madrid", "Barcelona", "Valencia"), "es"),
    ("GB", "gbp", 14, ("gb_vat",), ("London", "Manchester", "Leeds", "Bristol"), "en-GB"),
    ("JP", "jpy", 10, ("jp_cn", "jp_rn"), ("Tokyo", "Osaka", "Nagoya"), "ja"),
)
EU = {"DE", "FR", "NL", "IE", "ES"}
US_STATES = {"New York": "NY", "Austin": "TX", "Denver": "CO", "Seattle": "WA"}
STREETS = ("Market Street", "Harbour Road", "Station Lane", "King Street", "Mill Road")
NAME_FIRST = ("Acme", "Northwind", "Blue Harbor", "Granite", "Summit", "Lumen", "Atlas", "Vertex")
NAME_SECOND = ("Logistics", "Analytics", "Foods", "Robotics", "Media", "Health", "Systems")
LEGAL_FORM = {"US": "Inc.", "DE": "GmbH", "FR": "SAS", "NL": "B.V.", "IE": "Ltd", "ES": "S.L."}
LEGAL_FORM |= {"GB": "Ltd", "JP": "K.K."}

# product name, unit amount in US cents, most quantity billed at once
PRODUCTS = (
    ("Platform licence", 250_000, 1),
    ("User seats", 4_900, 40),
    ("Premium support", 60_000, 1),
    ("API calls (per 10,000)", 1_200, 25),
    ("Data retention add-on", 15_000, 1),
    ("Onboarding services (day)", 120_000, 3),
    ("Storage (per 100 GB)", 2_500, 12),
)
# Minor units of each currency per US cent, roughly; jpy has no minor unit (1 yen).
PER_US_CENT = {"usd": 1.0, "eur": 0.92, "gbp": 0.79, "jpy": 1.5}
# draft, open, paid: most invoices are settled, a few are still being prepared.
STATUS_WEIGHTS = (("draft", 10), ("open", 25), ("paid", 65))


def _random_chars(rng: random.Random, length: int) -> str:
    # Random bytes mapped onto letters and digits: ten times faster than rng.choices.
    return rng.randbytes(length).translate(ID_BYTES).decode()


def _stripe_id(rng: random.Random, prefix: str, length: int, taken: set[str]) -> str:
    while True:
        candidate = prefix + _random_chars(rng, length)
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _fresh(value: Any) -> Any:
    """A deep copy of parsed JSON that shares the (immutable) keys and scalars.

    Three times faster than copy.deepcopy, and unlike json.loads it does not allocate every
    key again for each of the 50,000 objects.
    """
    if type(value) is dict:
        return {key: _fresh(item) for key, item in value.items()}
    if type(value) is list:
        return [_fresh(item) for item in value]
    return value


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _list_object(url: str, data: list[dict], has_more: bool = False) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _error(status: int, message: str, *, param: str | None = None) -> tuple[int, bytes]:
    code = "resource_missing" if status == 404 else "parameter_invalid"
    error = {"type": "invalid_request_error", "code": code, "message": message}
    if param:
        error["param"] = param
    return status, _dumps({"error": error})


class StripePages:
    """Generated customers and invoices, and the answers to Stripe requests about them.

    Lists are newest first, as Stripe's are. `customers` and `invoices` hold the objects as
    dicts (an invoice holds its first 10 lines, as Stripe embeds them); `tax_ids` and `lines`
    hold every tax ID per customer id and every line per invoice id.
    """

    def __init__(
        self,
        *,
        customers: int = 10_000,
        invoices: int = 10_000,
        seed: int = 1,
        lines_per_invoice: tuple[int, int] = (3, 6),
    ) -> None:
        if customers < 1 and invoices > 0:
            raise ValueError("Invoices need at least one customer.")
        self._templates = json.loads(FIXTURES.read_text())["resources"]
        rng = random.Random(seed)  # noqa: S311  (reproducible test data, not secrets)
        self._taken_ids: set[str] = set()
        self.account = self._make_account()
        self.customers: list[dict] = []
        self.tax_ids: dict[str, list[dict]] = {}
        self._generate_customers(rng, customers)
        self._customer_position = {
            customer["id"]: position for position, customer in enumerate(self.customers)
        }
        self.invoices: list[dict] = []
        self.lines: dict[str, list[dict]] = {}
        self._generate_invoices(rng, invoices, lines_per_invoice)
        self._serialise()
        self._customer_keys = [-customer["created"] for customer in self.customers]
        self._invoice_keys = [-invoice["created"] for invoice in self.invoices]
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    # --- What a benchmark checks its mirror against.
    @property
    def customer_ids(self) -> set[str]:
        return {customer["id"] for customer in self.customers}

    @property
    def invoice_ids(self) -> set[str]:
        return {invoice["id"] for invoice in self.invoices}

    @property
    def line_ids(self) -> set[str]:
        return {line["id"] for lines in self.lines.values() for line in lines}

    @property
    def tax_id_ids(self) -> set[str]:
        return {tax_id["id"] for tax_ids in self.tax_ids.values() for tax_id in tax_ids}

    # --- Generation.
    def _copy(self, name: str) -> dict:
        # Each object starts as a copy of Stripe's example: every field we do not set stays.
        return _fresh(self._templates[name])

    def _make_account(self) -> dict:
        account = self._copy("account")
        account["id"] = ACCOUNT_ID
        account["created"] = NEWEST - CUSTOMERS_SPAN - 30 * DAY
        account["business_profile"]["name"] = "Bench Stand-in Inc."
        account["settings"]["dashboard"]["display_name"] = "Bench Stand-in"
        account["external_accounts"]["url"] = f"/v1/accounts/{ACCOUNT_ID}/external_accounts"
        return account

    def _generate_customers(self, rng: random.Random, count: int) -> None:
        # Strictly descending, the oldest about CUSTOMERS_SPAN ago: older than any invoice.
        step = max(1, CUSTOMERS_SPAN // max(count, 1))
        weights = [country[2] for country in COUNTRIES]
        for position in range(count):
            country, currency, _, tax_types, cities, locale = rng.choices(COUNTRIES, weights)[0]
            name = f"{rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)} {LEGAL_FORM[country]}"
            customer = self._copy("customer")
            customer_id = _stripe_id(rng, "cus_", 14, self._taken_ids)
            created = NEWEST - (position + 1) * step + rng.randrange(min(step, JITTER))
            city = rng.choice(cities)
            customer.update(
                id=customer_id,
                created=created,
                name=name,
                email=f"billing+{customer_id[4:].lower()}@{name.split()[0].lower()}.example",
                phone=f"+{rng.randrange(10**9, 10**10)}",
                currency=currency,
                # The example's discount has no coupon; a customer without one has null.
                discount=None,
                shipping=None,
                invoice_prefix="".join(rng.choices("0123456789ABCDEF", k=8)),
                preferred_locales=[locale],
                address={
                    "city": city,
                    "country": country,
                    "line1": f"{rng.randrange(1, 400)} {rng.choice(STREETS)}",
                    "line2": None,
                    "postal_code": f"{rng.randrange(10000, 99999)}",
                    "state": US_STATES.get(city),
                },
                metadata={"crm_account": f"ACC-{rng.randrange(100000, 999999)}"},
            )
            if rng.random() < 0.2:
                customer["invoice_settings"]["footer"] = "Payment within 30 days, thank you."
            tax_ids = [
                self._make_tax_id(rng, customer, tax_type)
                for tax_type in tax_types[: rng.choice((1, 2))]
            ]
            # EU businesses (the account is in the US) are invoiced under reverse charge.
            customer["tax_exempt"] = "reverse" if country in EU else "none"
            self.customers.append(customer)
            self.tax_ids[customer_id] = tax_ids

    def _make_tax_id(self, rng: random.Random, customer: dict, tax_type: str) -> dict:
        country = customer["address"]["country"]
        digits = "".join(rng.choices(string.digits, k=13))
        value = {
            "us_ein": f"{digits[:2]}-{digits[2:9]}",
            "eu_vat": {
                "DE": f"DE{digits[:9]}",
                "FR": f"FR{digits[:11]}",
                "NL": f"NL{digits[:9]}B01",
                "IE": f"IE{digits[:7]}W",
                "ES": f"ESB{digits[:8]}",
            }.get(country, ""),
            "de_stn": f"{digits[:2]}/{digits[2:5]}/{digits[5:10]}",
            "es_cif": f"B{digits[:8]}",
            "gb_vat": f"GB{digits[:9]}",
            "jp_cn": digits,
            "jp_rn": digits[:5],
        }[tax_type]
        tax_id = self._copy("tax_id")
        verified = tax_type in ("eu_vat", "gb_vat")
        tax_id.update(
            id=_stripe_id(rng, "txi_", 24, self._taken_ids),
            country=country,
            created=customer["created"] + rng.randrange(1, 600),
            customer=customer["id"],
            type=tax_type,
            value=value,
            verification={
                "status": "verified" if verified else "unavailable",
                "verified_address": None,
                "verified_name": customer["name"].upper() if verified else None,
            },
        )
        tax_id["owner"]["customer"] = customer["id"]
        return tax_id

    def _generate_invoices(
        self, rng: random.Random, count: int, lines_per_invoice: tuple[int, int]
    ) -> None:
        step = max(1, INVOICES_SPAN // max(count, 1))
        customer_created = [customer["created"] for customer in self.customers]
        products = [
            (name, cents, most, f"prod_{_random_chars(rng, 14)}") for name, cents, most in PRODUCTS
        ]
        prices = {
            (product_id, currency): _stripe_id(rng, "price_", 24, self._taken_ids)
            for *_, product_id in products
            for currency in PER_US_CENT
        }
        for position in range(count):
            created = NEWEST - (position + 1) * step + rng.randrange(min(step, JITTER))
            # Only customers created before the invoice: those from the first older one on.
            oldest_eligible = self._first_older(customer_created, created)
            customer = self.customers[rng.randrange(oldest_eligible, len(self.customers))]
            invoice = self._copy("invoice")
            invoice_id = _stripe_id(rng, "in_", 24, self._taken_ids)
            currency = customer["currency"]
            lines = []
            for _ in range(rng.randint(*lines_per_invoice)):
                name, cents, most, product_id = rng.choice(products)
                unit_amount = max(1, round(cents * PER_US_CENT[currency]))
                quantity = rng.randint(1, most)
                line = self._copy("line_item")
                line.update(
                    id=_stripe_id(rng, "il_", 24, self._taken_ids),
                    invoice=invoice_id,
                    currency=currency,
                    amount=unit_amount * quantity,
                    subtotal=unit_amount * quantity,
                    # Stripe's own line descriptions use the multiplication sign.
                    description=f"{quantity} × {name}",  # noqa: RUF001
                    discounts=[],
                    discount_amounts=[],
                    pretax_credit_amounts=[],
                    taxes=[],
                    quantity=quantity,
                    period={"start": created - 30 * DAY, "end": created},
                    parent={
                        "type": "invoice_item_details",
                        "invoice_item_details": {
                            "invoice_item": f"ii_{_random_chars(rng, 24)}",
                            "proration": False,
                            "proration_details": {"credited_items": None},
                            "subscription": None,
                        },
                        "subscription_item_details": None,
                    },
                    pricing={
                        "type": "price_details",
                        "price_details": {
                            "price": prices[product_id, currency],
                            "product": product_id,
                        },
                        "unit_amount_decimal": str(unit_amount),
                    },
                )
                lines.append(line)
            self._fill_invoice(rng, invoice, invoice_id, created, customer, lines)
            self.invoices.append(invoice)
            self.lines[invoice_id] = lines
        self._settle_invoices(rng)

    @staticmethod
    def _first_older(created_descending: Sequence[int], moment: int) -> int:
        # bisect wants ascending keys; negating the timestamps makes them ascending.
        return bisect_right(created_descending, -moment, key=lambda created: -created)

    def _fill_invoice(
        self,
        rng: random.Random,
        invoice: dict,
        invoice_id: str,
        created: int,
        customer: dict,
        lines: list[dict],
    ) -> None:
        # Amounts in the currency's minor unit; no tax or discount, so total = subtotal.
        subtotal = sum(line["amount"] for line in lines)
        statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
        invoice.update(
            id=invoice_id,
            status=rng.choices(statuses, weights)[0],
            created=created,
            currency=customer["currency"],
            customer=customer["id"],
            customer_address=dict(customer["address"]),
            customer_email=customer["email"],
            customer_name=customer["name"],
            customer_phone=customer["phone"],
            customer_shipping=None,
            customer_tax_exempt=customer["tax_exempt"],
            customer_tax_ids=[
                {"type": tax_id["type"], "value": tax_id["value"]}
                for tax_id in self.tax_ids[customer["id"]]
            ],
            account_name=self.account["business_profile"]["name"],
            collection_method=rng.choices(("charge_automatically", "send_invoice"), (7, 3))[0],
            billing_reason="manual",
            discounts=[],
            total_discount_amounts=[],
            total_taxes=[],
            total_pretax_credit_amounts=[],
            subtotal=subtotal,
            subtotal_excluding_tax=subtotal,
            total=subtotal,
            total_excluding_tax=subtotal,
            amount_due=subtotal,
            amount_overpaid=0,
            shipping_cost=None,
            shipping_details=None,
            from_invoice=None,
            last_finalization_error=None,
            parent=None,
            period_start=created,
            period_end=created,
            webhooks_delivered_at=created,
            lines=_list_object(
                f"/v1/invoices/{invoice_id}/lines",
                lines[:INLINE_LINES],
                has_more=len(lines) > INLINE_LINES,
            ),
        )

    def _settle_invoices(self, rng: random.Random) -> None:
        """Numbers, dates and amounts paid, which depend on the status and on the order."""
        sequence: Counter[str] = Counter()
        # Oldest first, so that each customer's invoice numbers rise with time.
        for invoice in reversed(self.invoices):
            customer = self._customer_by_id(invoice["customer"])
            total, status = invoice["total"], invoice["status"]
            send_invoice = invoice["collection_method"] == "send_invoice"
            draft = status == "draft"
            finalized_at = paid_at = number = None
            if not draft:
                finalized_at = invoice["created"] + 3_600
                sequence[customer["id"]] += 1
                number = f"{customer['invoice_prefix']}-{sequence[customer['id']]:04d}"
            if finalized_at and status == "paid":
                paid_at = min(finalized_at + rng.randrange(DAY, 25 * DAY), NEWEST)
            invoice.update(
                number=number,
                auto_advance=status != "paid",
                attempted=status == "paid" or (status == "open" and not send_invoice),
                attempt_count=1 if status == "paid" and not send_invoice else 0,
                amount_paid=total if status == "paid" else 0,
                amount_remaining=0 if status == "paid" else total,
                starting_balance=0,
                ending_balance=None if draft else 0,
                effective_at=finalized_at,
                due_date=finalized_at + 30 * DAY if send_invoice and finalized_at else None,
                next_payment_attempt=(
                    invoice["created"] + DAY if draft and not send_invoice else None
                ),
                status_transitions={
                    "finalized_at": finalized_at,
                    "marked_uncollectible_at": None,
                    "paid_at": paid_at,
                    "voided_at": None,
                },
            )
        for customer in self.customers:
            customer["next_invoice_sequence"] = sequence[customer["id"]] + 1

    def _customer_by_id(self, customer_id: str) -> dict:
        return self.customers[self._customer_position[customer_id]]

    # --- Serialisation, once: requests only join these bytes.
    def _serialise(self) -> None:
        self._customer_json = [_dumps(customer) for customer in self.customers]
        self._tax_ids_json = [
            _dumps(_list_object(f"/v1/customers/{c['id']}/tax_ids", self.tax_ids[c["id"]]))
            for c in self.customers
        ]
        self._tax_id_json = {
            customer_id: [_dumps(tax_id) for tax_id in tax_ids]
            for customer_id, tax_ids in self.tax_ids.items()
        }
        self._tax_id_position = {
            tax_id["id"]: position
            for tax_ids in self.tax_ids.values()
            for position, tax_id in enumerate(tax_ids)
        }
        self._invoice_json = [_dumps(invoice) for invoice in self.invoices]
        self._invoice_position = {
            invoice["id"]: position for position, invoice in enumerate(self.invoices)
        }
        invoices_of: dict[str, list[int]] = {}
        for position, invoice in enumerate(self.invoices):
            invoices_of.setdefault(invoice["customer"], []).append(position)
        self._invoices_of_customer = invoices_of
        self._line_json = {
            invoice_id: [_dumps(line) for line in lines] for invoice_id, lines in self.lines.items()
        }
        self._line_position = {
            line["id"]: position
            for lines in self.lines.values()
            for position, line in enumerate(lines)
        }
        self._account_json = _dumps(self.account)

    def _customer_body(self, position: int, expand: set[str]) -> bytes:
        body = self._customer_json[position]
        if not expand:
            return body
        # Expandable fields are absent unless asked for; splice them in before the last brace.
        parts = [body[:-1]]
        if "tax_ids" in expand:
            parts += [b',"tax_ids":', self._tax_ids_json[position]]
        if "sources" in expand:
            url = f"/v1/customers/{self.customers[position]['id']}/sources".encode()
            parts += [b',"sources":{"object":"list","data":[],"has_more":false,"url":"', url, b'"}']
        parts.append(b"}")
        return b"".join(parts)

    # --- Answering requests.
    def respond(self, method: str, target: str) -> tuple[int, bytes]:
        """The status and JSON body for one request (`target`: path and query string)."""
        path, _, query = target.partition("?")
        if path == "/_stats":
            return self._answer_stats(method)
        segments = path.strip("/").split("/")
        self._count(segments)
        params = parse_qsl(query, keep_blank_values=True)
        try:
            if method == "GET":
                answer = self._answer_get(segments, params)
                if answer is not None:
                    return answer
        except _BadRequest as bad:
            return _error(400, str(bad), param=bad.param)
        return _error(404, f"Unrecognized request URL ({method}: {path}).")

    def _answer_get(
        self, segments: list[str], params: list[tuple[str, str]]
    ) -> tuple[int, bytes] | None:
        # Stripe-python sends lists as `expand[0]=...`; browsers and curl as `expand[]=...`.
        expand = {value for key, value in params if key.startswith("expand[")}
        query = dict(params)
        match segments:
            case ["v1", "customers"]:
                fields = {field.removeprefix("data.") for field in expand}
                return self._page(
                    _created_in(self._customer_keys, query),
                    lambda position: self._customer_body(position, fields),
                    self._customer_position.get,
                    query,
                    "/v1/customers",
                )
            case ["v1", "customers", customer_id]:
                position = self._customer_position.get(customer_id)
                if position is None:
                    return _error(404, f"No such customer: '{customer_id}'", param="id")
                return 200, self._customer_body(position, expand)
            case ["v1", "customers", customer_id, "tax_ids"]:
                if customer_id not in self._customer_position:
                    return _error(404, f"No such customer: '{customer_id}'", param="customer")
                tax_ids = self._tax_id_json[customer_id]
                return self._page(
                    range(len(tax_ids)),
                    tax_ids.__getitem__,
                    self._tax_id_position.get,
                    query,
                    f"/v1/customers/{customer_id}/tax_ids",
                )
            case ["v1", "customers", customer_id, ("sources" | "payment_methods") as kind]:
                # No cards, bank accounts or payment methods: invoices are paid otherwise.
                if customer_id not in self._customer_position:
                    return _error(404, f"No such customer: '{customer_id}'", param="customer")
                return 200, _dumps(_list_object(f"/v1/customers/{customer_id}/{kind}", []))
            case ["v1", "invoices"]:
                return self._invoice_list(query)
            case ["v1", "invoices", invoice_id]:
                position = self._invoice_position.get(invoice_id)
                if position is None:
                    return _error(404, f"No such invoice: '{invoice_id}'", param="id")
                return 200, self._invoice_json[position]
            case ["v1", "invoices", invoice_id, "lines"]:
                lines = self._line_json.get(invoice_id)
                if lines is None:
                    return _error(404, f"No such invoice: '{invoice_id}'", param="invoice")
                return self._page(
                    range(len(lines)),
                    lines.__getitem__,
                    self._line_position.get,
                    query,
                    f"/v1/invoices/{invoice_id}/lines",
                )
            case ["v1", "account"]:
                return 200, self._account_json
            case ["v1", "accounts", account_id] if account_id == ACCOUNT_ID:
                return 200, self._account_json
            case ["v1", "accounts"]:
                # Connected accounts: none. Stripe does not list the platform account itself.
                return 200, _dumps(_list_object("/v1/accounts", []))
            case ["v1", ("subscriptions" | "payment_methods" | "subscription_items") as kind]:
                return 200, _dumps(_list_object(f"/v1/{kind}", []))
        return None

    def _invoice_list(self, query: dict[str, str]) -> tuple[int, bytes]:
        positions: Sequence[int] = _created_in(self._invoice_keys, query)
        if "customer" in query:
            positions = self._invoices_of_customer.get(query["customer"], [])
        if "status" in query:
            status = query["status"]
            positions = [p for p in positions if self.invoices[p]["status"] == status]
        return self._page(
            positions,
            self._invoice_json.__getitem__,
            self._invoice_position.get,
            query,
            "/v1/invoices",
        )

    @staticmethod
    def _page(
        positions: Sequence[int],
        body_of: Callable[[int], bytes],
        position_of: Callable[[str], int | None],
        query: dict[str, str],
        url: str,
    ) -> tuple[int, bytes]:
        """One page of a list. `positions` are ascending indexes into the newest-first list."""
        limit_text = query.get("limit", "10")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            raise _BadRequest(
                f"Invalid limit: {limit_text!r}; it must be between 1 and 100.", "limit"
            )
        limit = int(limit_text)
        if cursor := query.get("starting_after"):
            start = bisect_right(positions, _cursor_position(position_of, cursor, "starting_after"))
            chunk = positions[start : start + limit]
            has_more = start + limit < len(positions)
        elif cursor := query.get("ending_before"):
            # The `limit` objects just newer than the cursor, still newest first.
            end = bisect_left(positions, _cursor_position(position_of, cursor, "ending_before"))
            start = max(0, end - limit)
            chunk = positions[start:end]
            has_more = start > 0
        else:
            chunk = positions[:limit]
            has_more = len(positions) > limit
        return 200, b"".join(
            (
                b'{"object":"list","data":[',
                b",".join([body_of(position) for position in chunk]),
                b'],"has_more":true,"url":"' if has_more else b'],"has_more":false,"url":"',
                url.encode(),
                b'"}',
            )
        )

    # --- Request counts.
    def _count(self, segments: list[str]) -> None:
        normalised = "/" + "/".join(
            "{id}" if ID_SEGMENT.match(segment) else segment for segment in segments
        )
        with self._stats_lock:
            self._stats[normalised] += 1

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            return {"requests": self._stats.total(), "by_path": dict(self._stats.most_common())}

    def reset_stats(self) -> dict[str, Any]:
        """Clear the counts; returns those just cleared."""
        with self._stats_lock:
            counts = {"requests": self._stats.total(), "by_path": dict(self._stats.most_common())}
            self._stats.clear()
        return counts

    def _answer_stats(self, method: str) -> tuple[int, bytes]:
        if method == "GET":
            return 200, _dumps(self.stats())
        if method == "DELETE":
            return 200, _dumps(self.reset_stats())
        return _error(404, f"Unrecognized request URL ({method}: /_stats).")


def _created_in(keys: list[int], query: dict[str, str]) -> range:
    """The positions (newest first) whose `created` passes Stripe's `created[gte]`, `[gt]`,
    `[lt]` and `[lte]` filters, found by bisection. `keys`: each object's `-created`, which
    ascend as the objects are newest first."""
    bounds = {op: query[f"created[{op}]"] for op in ("gte", "gt", "lt", "lte")
              if f"created[{op}]" in query}  # fmt: skip
    if not bounds:
        return range(len(keys))
    for op, text in bounds.items():
        if not text.lstrip("-").isdigit():
            raise _BadRequest(f"Invalid integer: {text}", f"created[{op}]")
    start, end = 0, len(keys)
    if "gte" in bounds:
        end = min(end, bisect_right(keys, -int(bounds["gte"])))
    if "gt" in bounds:
        end = min(end, bisect_left(keys, -int(bounds["gt"])))
    if "lt" in bounds:
        start = max(start, bisect_right(keys, -int(bounds["lt"])))
    if "lte" in bounds:
        start = max(start, bisect_left(keys, -int(bounds["lte"])))
    return range(start, max(start, end))


class _BadRequest(Exception):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def _cursor_position(position_of: Callable[[str], int | None], cursor: str, param: str) -> int:
    position = position_of(cursor)
    if position is None:
        raise _BadRequest(f"No such object: '{cursor}'", param)
    return position


# --- HTTP. The standard library's ThreadingHTTPServer, because it measured cheaper than aiohttp
# for 100-object pages on the 2-core benchmark machine: about 250 against 300 microseconds of
# server CPU a customer page, 430 against 850 an invoice page (620 kB).
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse one connection
    disable_nagle_algorithm = True
    server: "_PagesServer"

    def do_GET(self) -> None:
        self._answer("GET")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # a request body is never needed, but must be consumed
        status, body = self.server.pages.respond(method, self.path)
        # Head and body in one write: fewer system calls, and no Nagle/delayed-ACK stall.
        head = b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status])
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        self.wfile.write(head + body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per request would cost more than the answer


class _PagesServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], pages: StripePages) -> None:
        self.pages = pages
        super().__init__(address, _Handler)


@dataclass(frozen=True)
class RunningServer:
    url: str
    stop: Callable[[], None]

    def stats(self) -> dict[str, Any]:
        """Requests so far, by path with ids replaced by `{id}`."""
        return requests.get(f"{self.url}/_stats", timeout=10).json()

    def reset_stats(self) -> dict[str, Any]:
        return requests.delete(f"{self.url}/_stats", timeout=10).json()


def serve_in_thread(pages: StripePages, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `pages` from a background thread of this process (port 0: a free one).

    The server then shares this process's GIL: fine for tests and for checking behaviour; to
    time an engine, serve_in_subprocess keeps the server's work off the engine's process.
    """
    server = _PagesServer((host, port), pages)
    thread = threading.Thread(target=server.serve_forever, name="stripe-pages", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return RunningServer(url=f"http://{host}:{server.server_address[1]}", stop=stop)


def serve_in_subprocess(
    *,
    customers: int = 10_000,
    invoices: int = 10_000,
    seed: int = 1,
    lines_per_invoice: tuple[int, int] = (3, 6),
    host: str = "127.0.0.1",
    port: int = 0,
) -> RunningServer:
    """Serve from another Python process; returns once it answers (port 0: a free one)."""
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            *("--customers", str(customers), "--invoices", str(invoices)),
            *("--seed", str(seed), "--lines-per-invoice", *map(str, lines_per_invoice)),
            *("--host", host, "--port", str(port)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout = process.stdout
    assert stdout is not None
    # The script's last start-up line is the URL; anything else means it failed to start.
    for line in stdout:
        if line.startswith("serving "):
            url = line.split()[1]
            break
    else:
        raise RuntimeError(f"list_pages exited with {process.wait()} before serving.")

    def stop() -> None:
        process.terminate()
        process.wait(timeout=10)
        stdout.close()

    return RunningServer(url=url, stop=stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--lines-per-invoice", type=int, nargs=2, default=(3, 6), metavar=("FEWEST", "MOST")
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8500, help="0 picks a free port")
    options = parser.parse_args()
    started = time.perf_counter()
    pages = StripePages(
        customers=options.customers,
        invoices=options.invoices,
        seed=options.seed,
        lines_per_invoice=tuple(options.lines_per_invoice),
    )
    print(
        f"generated {len(pages.customers)} customers, {len(pages.invoices)} invoices,"
        f" {sum(map(len, pages.lines.values()))} lines in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    server = _PagesServer((options.host, options.port), pages)
    print(f"serving http://{options.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
