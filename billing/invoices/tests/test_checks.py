"""The draft-invoice checks: Stripe-shaped drafts, each right or wrong in one known way."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from billing.invoices.checks import ContractExpectation, Rule, draft_from_stripe, invoice_flags
from billing.pricing import MINIMUM_COMMIT_KEY, Line, Phase, PricingModel, Terms
from stripe_standin.store import stripe_fixture

D = Decimal
Y1 = (date(2026, 1, 1), date(2026, 12, 31))
Y2 = (date(2027, 1, 1), date(2027, 12, 31))


def ts(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


def terms(currency: str = "EUR", **kwargs: Any) -> Terms:
    """Seats ramping 20.00 -> 18.00 a month, and a 500.00 platform fee, monthly."""
    seats = Line(
        "seats",
        "Seats",
        PricingModel.PER_UNIT,
        (
            Phase(*Y1, unit_amount=D("20.00"), quantity=100),
            Phase(*Y2, unit_amount=D("18.00"), quantity=120),
        ),
    )
    platform = Line(
        "platform",
        "Platform fee",
        PricingModel.FLAT,
        (Phase(Y1[0], Y2[1], flat_amount=D("500.00")),),
    )
    return Terms(
        currency=currency,
        start=Y1[0],
        end=Y2[1],
        billing_months=1,
        anchor=Y1[0],
        lines=kwargs.pop("lines", (seats, platform)),
        **kwargs,
    )


PRICES = {"price_seats_y1": "seats", "price_seats_y2": "seats", "price_platform": "platform"}


def expectation(**changes: Any) -> ContractExpectation:
    values: dict[str, Any] = {
        "contract": "C-2026-00042 v1",
        "terms": terms(),
        "price_lines": PRICES,
        "collection_method": "send_invoice",
        "payment_terms_days": 30,
        "tax_rate_ids": ("txr_vat19",),
        "tax_note": "VAT 19% by the rule for Germany",
    }
    values.update(changes)
    return ContractExpectation(**values)


def line(
    price: str,
    quantity: int,
    unit_minor: str,
    amount: int,
    period: tuple[date, date],
    *,
    taxes: tuple[str, ...] = ("txr_vat19",),
    **extra: Any,
) -> dict[str, Any]:
    item = stripe_fixture("line_item")
    item.update(
        id=f"il_{price}_{period[0]:%Y%m}",
        amount=amount,
        quantity=quantity,
        description=price,
        period={"start": ts(period[0]), "end": ts(period[1] + timedelta(days=1))},
        pricing={
            "type": "price_details",
            "price_details": {"price": price, "product": "prod_x"},
            "unit_amount_decimal": unit_minor,
        },
        taxes=[
            {
                "amount": 0,
                "tax_behavior": "exclusive",
                "tax_rate_details": {"tax_rate": rate},
                "taxability_reason": "standard_rated",
                "taxable_amount": amount,
                "type": "tax_rate_details",
            }
            for rate in taxes
        ],
        **extra,
    )
    return item


def invoice(
    lines: list[dict[str, Any]],
    *,
    currency: str = "eur",
    created: date = date(2026, 3, 1),
    due: date | None = date(2026, 3, 31),
    method: str = "send_invoice",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = stripe_fixture("invoice")
    data.update(
        id="in_draft",
        status="draft",
        customer="cus_acme",
        currency=currency,
        collection_method=method,
        created=ts(created),
        due_date=ts(due) if due else None,
        subtotal=sum(item["amount"] for item in lines),
    )
    return data, lines


MARCH = (date(2026, 3, 1), date(2026, 3, 31))
MARCH_2027 = (date(2027, 3, 1), date(2027, 3, 31))


def right_march() -> list[dict[str, Any]]:
    return [
        line("price_seats_y1", 100, "2000", 200000, MARCH),
        line("price_platform", 1, "50000", 50000, MARCH),
    ]


def rules(flags) -> list[str]:
    return [f.rule for f in flags]


def check(data: tuple[dict[str, Any], list[dict[str, Any]]], **kwargs: Any):
    expected = kwargs.pop("expected", expectation())
    return invoice_flags(draft_from_stripe(*data), expected, **kwargs)


def test_a_draft_as_the_contract_says_is_clean():
    assert check(invoice(right_march())) == []


def test_the_second_year_of_the_ramp_is_clean_at_its_own_price():
    lines = [
        line("price_seats_y2", 120, "1800", 216000, MARCH_2027),
        line("price_platform", 1, "50000", 50000, MARCH_2027),
    ]
    assert check(invoice(lines, created=date(2027, 3, 1), due=date(2027, 3, 31))) == []


def test_a_wrong_unit_price_is_flagged_with_both_prices():
    lines = right_march()
    lines[0] = line("price_seats_y1", 100, "2100", 210000, MARCH)

    flags = check(invoice(lines))

    assert rules(flags) == [Rule.UNIT_PRICE, Rule.LINE_AMOUNT, Rule.TOTAL]
    assert (flags[0].expected, flags[0].actual) == ("20 EUR", "21 EUR")
    assert flags[2].message == (
        "The invoice comes to 2,600.00 EUR before tax; contract C-2026-00042 v1 says 2,500.00 EUR."
    )


def test_the_previous_ramp_phase_billed_in_the_next_year_is_flagged():
    lines = [
        line("price_seats_y1", 100, "2000", 200000, MARCH_2027),  # year 1's seats and price
        line("price_platform", 1, "50000", 50000, MARCH_2027),
    ]
    flags = check(invoice(lines, created=date(2027, 3, 1), due=date(2027, 3, 31)))
    assert Rule.UNIT_PRICE in rules(flags)
    assert Rule.QUANTITY in rules(flags)


def test_a_missing_line_and_an_extra_line():
    missing = check(invoice(right_march()[:1]))
    assert rules(missing) == [Rule.MISSING_CHARGE, Rule.TOTAL]
    assert "Platform fee" in missing[0].message

    extra = check(invoice([*right_march(), line("price_other", 1, "9900", 9900, MARCH)]))
    assert rules(extra) == [Rule.UNEXPLAINED_LINE, Rule.TOTAL]


def test_wrong_tax_wrong_currency_wrong_due_date_and_collection():
    wrong_tax = right_march()
    wrong_tax[1] = line("price_platform", 1, "50000", 50000, MARCH, taxes=("txr_vat7",))
    (tax,) = check(invoice(wrong_tax))
    assert tax.rule == Rule.TAX
    assert "taxed with txr_vat7; the tax settings say txr_vat19" in tax.message

    assert rules(check(invoice(right_march(), currency="usd"))) == [Rule.CURRENCY]
    assert rules(check(invoice(right_march(), due=date(2026, 4, 15)))) == [Rule.DUE_DATE]
    assert Rule.COLLECTION_METHOD in rules(
        check(invoice(right_march(), method="charge_automatically", due=None))
    )


def test_no_tax_is_expected_for_an_exempt_customer_and_stripe_tax_is_not_compared():
    untaxed = [
        line("price_seats_y1", 100, "2000", 200000, MARCH, taxes=()),
        line("price_platform", 1, "50000", 50000, MARCH, taxes=()),
    ]
    assert check(invoice(untaxed), expected=expectation(tax_rate_ids=())) == []
    assert check(invoice(right_march()), expected=expectation(stripe_tax=True)) == []


def test_a_duplicate_for_the_period_and_no_contract_at_all():
    flags = check(invoice(right_march()), other_invoices_for_period=["in_earlier"])
    assert rules(flags) == [Rule.DUPLICATE]
    assert invoice_flags(draft_from_stripe(*invoice(right_march())), None)[0].rule == (
        Rule.NO_CONTRACT
    )


def usage_terms(currency: str) -> Terms:
    storage = Line(
        "storage",
        "Storage",
        PricingModel.USAGE,
        (Phase(Y1[0], Y2[1], unit_amount=D("0.10")),),
        metric="storage_gb",
    )
    return terms(currency, lines=(storage,), minimum_commit=D("1200.00"))


def test_a_true_up_is_expected_when_usage_falls_short_of_the_commit():
    # 100 GB at 0.10 = 10.00 used; the commit is 1,200.00 a year, 100.00 a month
    expected = expectation(
        terms=usage_terms("EUR"),
        price_lines={"price_storage": "storage"},
        usage={"storage_gb": 100},
    )
    used = line("price_storage", 100, "10", 1000, MARCH)
    short = check(invoice([used]), expected=expected)
    assert rules(short) == [Rule.MINIMUM_COMMIT, Rule.TOTAL]
    assert short[0].expected == "90.00 EUR"

    true_up = line(
        "price_none", 1, "9000", 9000, MARCH, metadata={"contract_line": MINIMUM_COMMIT_KEY}
    )
    true_up["pricing"]["price_details"] = {}
    assert check(invoice([used, true_up]), expected=expected) == []


def test_usage_billed_is_checked_against_the_usage_recorded():
    commitless = replace(usage_terms("EUR"), minimum_commit=None)
    recorded = expectation(
        terms=commitless, price_lines={"price_storage": "storage"}, usage={"storage_gb": 1200}
    )
    # Stripe bills 1,300 GB where the product measured 1,200
    over = check(invoice([line("price_storage", 1300, "10", 13000, MARCH)]), expected=recorded)
    assert rules(over) == [Rule.QUANTITY, Rule.LINE_AMOUNT, Rule.TOTAL]
    assert (over[0].expected, over[0].actual) == ("1200", "1300")
    assert over[1].expected == "120.00 EUR"
    assert (
        check(invoice([line("price_storage", 1200, "10", 12000, MARCH)]), expected=recorded) == []
    )


def test_usage_nobody_recorded_is_flagged_but_its_price_still_checked():
    commitless = replace(usage_terms("EUR"), minimum_commit=None)
    unrecorded = expectation(terms=commitless, price_lines={"price_storage": "storage"})
    # the amount is right for the units billed: only the missing figures are flagged
    flags = check(invoice([line("price_storage", 1300, "10", 13000, MARCH)]), expected=unrecorded)
    assert rules(flags) == [Rule.USAGE_NOT_RECORDED]
    assert "No usage of storage_gb is recorded for 2026-03-01 to 2026-03-31" in flags[0].message
    assert flags[0].actual == "1,300 units billed"
    # a wrong unit price is still found
    overpriced = check(
        invoice([line("price_storage", 1300, "11", 14300, MARCH)]), expected=unrecorded
    )
    assert rules(overpriced) == [
        Rule.USAGE_NOT_RECORDED,
        Rule.UNIT_PRICE,
        Rule.LINE_AMOUNT,
        Rule.TOTAL,
    ]


@pytest.mark.parametrize(
    ("currency", "unit", "seats_minor", "platform_minor"),
    [
        # zero decimals: 1,999 JPY a seat, 50,000 JPY flat
        ("JPY", D("1999"), 199900, 50000),
        # three decimals: 2.125 BHD a seat, 50.500 BHD flat
        ("BHD", D("2.125"), 212500, 50500),
    ],
)
def test_rounding_in_zero_and_three_decimal_currencies(currency, unit, seats_minor, platform_minor):
    seats = Line(
        "seats",
        "Seats",
        PricingModel.PER_UNIT,
        (Phase(Y1[0], Y2[1], unit_amount=unit, quantity=100),),
    )
    flat = D(platform_minor).scaleb(-3 if currency == "BHD" else 0)
    platform = Line(
        "platform", "Platform fee", PricingModel.FLAT, (Phase(Y1[0], Y2[1], flat_amount=flat),)
    )
    expected = expectation(terms=terms(currency, lines=(seats, platform)))
    unit_minor = f"{unit.scaleb(3 if currency == 'BHD' else 0).normalize():f}"
    lines = [
        line("price_seats_y1", 100, unit_minor, seats_minor, MARCH),
        line("price_platform", 1, str(platform_minor), platform_minor, MARCH),
    ]

    assert check(invoice(lines, currency=currency.lower()), expected=expected) == []

    # one minor unit off is one minor unit too many
    lines[1] = line("price_platform", 1, str(platform_minor), platform_minor + 1, MARCH)
    flags = check(invoice(lines, currency=currency.lower()), expected=expected)
    assert rules(flags) == [Rule.LINE_AMOUNT, Rule.TOTAL]


def graduated_usage_terms() -> Terms:
    """API calls on graduated tiers: the first 10,000 free, then 0.02 each."""
    from billing.pricing import Tier

    api = Line(
        "api",
        "API calls",
        PricingModel.GRADUATED,
        (Phase(Y1[0], Y2[1], tiers=(Tier(10_000, D("0")), Tier(None, D("0.02")))),),
        metric="api_calls",
    )
    return terms(lines=(api,))


def tier_lines(first: int, second: int) -> list[dict[str, Any]]:
    """Stripe's lines for a graduated price: one per tier reached."""
    return [
        line("price_api", first, "0", 0, MARCH),
        line("price_api", second, "2", second * 2, MARCH) | {"id": "il_tier_2"},
    ]


def usage_expectation(recorded: int | None, meter: int | None) -> ContractExpectation:
    return expectation(
        terms=graduated_usage_terms(),
        price_lines={"price_api": "api"},
        usage={} if recorded is None else {"api_calls": recorded},
        meter_usage=None if meter is None else {"api_calls": meter},
    )


def test_a_graduated_price_billed_one_line_per_tier_is_one_charge():
    # 15,000 calls: 10,000 free, 5,000 at 0.02 = 100.00
    assert (
        check(invoice(tier_lines(10_000, 5_000)), expected=usage_expectation(15_000, 15_000)) == []
    )


@pytest.mark.parametrize(
    ("recorded", "meter", "billed_second_tier", "says"),
    [
        # the meter missed a day: Stripe's meter and the draft agree, our figure does not
        (15_000, 14_000, 4_000, "Our recorded usage of api_calls is 15,000; Stripe's meter"),
        # usage corrected after the draft was made
        (15_000, 16_000, 5_000, "Stripe's meter holds 16,000 units of api_calls"),
        # the draft bills something else than both
        (15_000, 15_000, 6_000, "The draft bills 16,000 units of api_calls; our usage and"),
        (15_000, 14_000, 6_000, "recorded 15,000, Stripe's meter 14,000, billed 16,000"),
    ],
)
def test_the_three_usage_figures_are_compared_and_the_leg_that_differs_is_named(
    recorded, meter, billed_second_tier, says
):
    flags = check(
        invoice(tier_lines(10_000, billed_second_tier)),
        expected=usage_expectation(recorded, meter),
    )

    (mismatch,) = [f for f in flags if f.rule == Rule.USAGE_METER_MISMATCH]
    assert says in mismatch.message


def test_no_meter_read_no_meter_flag():
    flags = check(invoice(tier_lines(10_000, 5_000)), expected=usage_expectation(15_000, None))
    assert flags == []


def test_late_usage_finance_billed_as_an_item_is_explained_by_its_metadata():
    late = line(
        "price_none",
        1,
        "10000",
        10000,
        MARCH,
        metadata={"contract_line": "late-usage", "contract": "C-2026-00042"},
    )
    late["pricing"]["price_details"] = {}
    draft = invoice([*right_march(), late])
    assert check(draft) == []
    # another contract's late usage is not this one's
    late["metadata"]["contract"] = "C-2026-00999"
    assert rules(check(draft)) == [Rule.UNEXPLAINED_LINE, Rule.TOTAL]
