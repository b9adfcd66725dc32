"""A stateful Stripe for the tests: localstripe, served on loopback, with its gaps filled.

Run as its own process: `python -m billing.tests.localstripe_server --port 8420`.

localstripe cannot serve dj-stripe as it is (see README, "The local Stripe stand-in"). This
launcher keeps localstripe's own resources and adds, at the HTTP layer, what is missing, with
payloads copied from Stripe's own examples (stripe_fixtures/fixtures3.json):

- `GET /v1/account` and `GET /v1/accounts`, which dj-stripe calls before any sync;
- a missing object answered as Stripe does (`No such customer: 'cus_...'`, code
  `resource_missing`), where localstripe says only "Not Found";
- nothing written to /tmp/localstripe.pickle (shared between runs, and quadratic to rewrite);
- listening on 127.0.0.1 only, where localstripe itself listens on every interface.
"""

import argparse
import copy
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe import resources, server

FIXTURES_PATH = Path(__file__).parent / "stripe_fixtures" / "fixtures3.json"
STANDIN_ACCOUNT_ID = "acct_1BackofficeStandin"


def stripe_fixture(name: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object `name` (for example "customer")."""
    with FIXTURES_PATH.open() as f:
        return copy.deepcopy(json.load(f)["resources"][name])


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
async def stripe_shaped_not_found(request: web.Request, handler: Any) -> web.StreamResponse:
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


def build_app() -> web.Application:
    # Keep the store in memory only.
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    app = server.app
    # Outermost, so it sees the 404 that localstripe's own error middleware renders.
    app.middlewares.insert(0, stripe_shaped_not_found)
    app.router.add_get("/v1/account", retrieve_account)
    app.router.add_get("/v1/accounts", list_accounts)
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
