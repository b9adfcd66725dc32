"""`payment_settings` on subscriptions and invoices, as Stripe keeps them.

Stripe's subscription and invoice carry `payment_settings` (`payment_method_types`,
`payment_method_options`, and on invoices `default_mandate`); an invoice a subscription creates
takes the subscription's `payment_method_types` ("The list of payment method types to provide to
every invoice created by the subscription"). localstripe refuses the parameter ("Bad request")
and shows no such field; this teaches it:

- `POST /v1/subscriptions` and `POST /v1/subscriptions/{id}` take
  `payment_settings[payment_method_types][]`; `""` (or an empty list) clears them to null;
- `POST /v1/invoices/{id}` takes the same on a draft; an invoice created for a subscription
  (localstripe's `subscription` parameter) starts with the subscription's types;
- a type Stripe does not know is refused as Stripe refuses it: 400, `parameter_invalid_string`
  ... naming `payment_settings[payment_method_types][n]`; so is a `payment_settings` that is not
  a hash, or a key other than the ones above;
- a finalized invoice's types are not changed (Stripe: only a draft's payment settings).

Wired in by `keep_payment_settings()` (server.py), before the app serves.
"""

import copy
from typing import Any

from localstripe import resources

from stripe_standin.store import StripeError

# Stripe's enum for payment_settings.payment_method_types (API reference, invoices and
# subscriptions).
PAYMENT_METHOD_TYPES = frozenset(
    """
    ach_credit_transfer ach_debit acss_debit affirm amazon_pay au_becs_debit bacs_debit
    bancontact boleto card cashapp crypto custom customer_balance eps fpx giropay grabpay ideal
    jp_credit_transfer kakao_pay klarna konbini kr_card link multibanco naver_pay
    nz_bank_account p24 pay_by_bank payco paynow paypal pix promptpay revolut_pay
    sepa_credit_transfer sepa_debit sofort swish twint us_bank_account wechat_pay
    """.split()
)

Obj = dict[str, Any]


def empty_settings(*, invoice: bool) -> Obj:
    settings: Obj = {"payment_method_options": None, "payment_method_types": None}
    if invoice:
        settings["default_mandate"] = None
    else:
        settings["save_default_payment_method"] = "off"
    return settings


def _types(value: Any) -> list[str] | None:
    name = "payment_settings[payment_method_types]"
    if value in ("", None):
        return None
    if isinstance(value, dict):  # form-encoded `[0]=card&[1]=link`
        value = [value[k] for k in sorted(value, key=lambda k: int(k) if k.isdigit() else 0)]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise StripeError(400, f"Invalid array: {name}", param=name)
    for n, code in enumerate(value):
        if code not in PAYMENT_METHOD_TYPES:
            raise StripeError(
                400,
                f"Invalid {name}[{n}]: must be one of " + ", ".join(sorted(PAYMENT_METHOD_TYPES)),
                param=f"{name}[{n}]",
                code="parameter_invalid_string",
            )
    return list(dict.fromkeys(value)) or None


def settings_from(value: Any, current: Obj) -> Obj:
    """`current` with what `payment_settings` sets; refused as Stripe refuses it."""
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid object", param="payment_settings")
    known = {"payment_method_types", "payment_method_options"} | {
        k for k in current if k not in ("payment_method_types", "payment_method_options")
    }
    for key in value:
        if key not in known:
            raise StripeError(
                400,
                f"Received unknown parameter: payment_settings[{key}]",
                param="payment_settings",
            )
    settings = copy.deepcopy(current)
    if "payment_method_types" in value:
        settings["payment_method_types"] = _types(value["payment_method_types"])
    if "payment_method_options" in value:
        settings["payment_method_options"] = value["payment_method_options"] or None
    return settings


def keep_payment_settings() -> None:
    """Teach localstripe's subscriptions and invoices `payment_settings` (once)."""
    if getattr(resources.Subscription.__init__, "payment_settings", False):
        return
    subscription_init = resources.Subscription.__init__

    def subscription(self: Any, *args: Any, payment_settings: Any = None, **kwargs: Any) -> None:
        settings = empty_settings(invoice=False)
        if payment_settings is not None:
            settings = settings_from(payment_settings, settings)  # refused before any write
        # Before localstripe's own: it creates the first invoice, which takes these.
        self.payment_settings = settings
        subscription_init(self, *args, **kwargs)

    subscription.payment_settings = True  # type: ignore[attr-defined]
    resources.Subscription.__init__ = subscription  # type: ignore[method-assign]
    subscription_update = resources.Subscription._update

    def subscription_changes(self: Any, payment_settings: Any = None, **data: Any) -> None:
        settings = None
        if payment_settings is not None:
            current = getattr(self, "payment_settings", None) or empty_settings(invoice=False)
            settings = settings_from(payment_settings, current)
        if data:
            subscription_update(self, **data)
        if settings is not None:
            self.payment_settings = settings

    resources.Subscription._update = subscription_changes  # type: ignore[method-assign]

    invoice_init = resources.Invoice.__init__

    def invoice(self: Any, *args: Any, payment_settings: Any = None, **kwargs: Any) -> None:
        settings = empty_settings(invoice=True)
        if payment_settings is not None:
            settings = settings_from(payment_settings, settings)
        invoice_init(self, *args, **kwargs)
        if payment_settings is None and self.subscription:
            # Stripe: the subscription's types go onto every invoice it creates.
            held = getattr(
                resources.Subscription._api_retrieve(self.subscription), "payment_settings", None
            )
            if held:
                settings["payment_method_types"] = copy.deepcopy(held["payment_method_types"])
        self.payment_settings = settings

    resources.Invoice.__init__ = invoice  # type: ignore[method-assign]
    invoice_update = resources.Invoice._update

    def invoice_changes(self: Any, payment_settings: Any = None, **data: Any) -> None:
        settings = None
        if payment_settings is not None:
            if self.status != "draft":
                raise StripeError(
                    400,
                    f"You can only update the payment settings of a draft invoice; {self.id} "
                    f"is {self.status}.",
                    param="payment_settings",
                )
            current = getattr(self, "payment_settings", None) or empty_settings(invoice=True)
            settings = settings_from(payment_settings, current)
        if data:
            invoice_update(self, **data)
        if settings is not None:
            self.payment_settings = settings

    resources.Invoice._update = invoice_changes  # type: ignore[method-assign]
