"""The draft-invoice checks: Stripe-shaped drafts, each right or wrong in one known way."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from billing.invoices.checks import (
    ContractExpectation,
    RecordedUsage,
    Rule,
    draft_from_stripe,
    invoice_flags,
)
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
        "number": "C-2026-00042",
        "version": 1,
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
    # the totals as Stripe adds them up: the tax added, then the customer's balance
    tax = sum(
        t["amount"]
        for item in lines
        for t in item["taxes"] or []
        if t["tax_behavior"] != "inclusive"
    )
    data.update(total=data["subtotal"] + tax, amount_due=data["subtotal"] + tax)
    return data, lines


MARCH = (date(2026, 3, 1), date(2026, 3, 31))
MARCH_2027 = (date(2027, 3, 1), date(2027, 3, 31))


def right_march() -> list[dict[str, Any]]:
    return [
        line("price_seats_y1", 100, "2000", 200000, MARCH),
        line("price_platform", 1, "50000", 50000, MARCH),
    ]


def recorded_in(period: tuple[date, date], **units: int) -> tuple[RecordedUsage, ...]:
    return tuple(RecordedUsage(metric, *period, quantity) for metric, quantity in units.items())


def rules(flags) -> list[str]:
    return [f.rule for f in flags]


def check(data: tuple[dict[str, Any], list[dict[str, Any]]], **kwargs: Any):
    kwargs.setdefault("rate_percentages", {})
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
    assert (flags[0].expected, flags[0].actual) == ("20.00 EUR", "21.00 EUR")
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
        usage=recorded_in(MARCH, storage_gb=100),
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
        terms=commitless,
        price_lines={"price_storage": "storage"},
        usage=recorded_in(MARCH, storage_gb=1200),
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
        usage=() if recorded is None else recorded_in(MARCH, api_calls=recorded),
        meter_usage=None if meter is None else {MARCH: {"api_calls": meter}},
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


# --- The model of a draft: each line in its contract's own billing period -------------------

APRIL = (date(2026, 4, 1), date(2026, 4, 30))


def test_a_first_period_the_contract_covers_in_part_is_compared_prorated():
    # the contract starts on 15 March; its periods run from the 1st: March owes 17/31
    late_start = replace(terms(), start=date(2026, 3, 15))
    expected = expectation(terms=late_start)
    part = (date(2026, 3, 15), MARCH[1])
    prorated = [
        line("price_seats_y1", 100, "2000", 109677, part),  # 2,000.00 x 17/31
        line("price_platform", 1, "50000", 27419, part),  # 500.00 x 17/31
    ]
    assert check(invoice(prorated), expected=expected) == []

    # the same days billed whole are found, with the prorated figure
    whole = [
        line("price_seats_y1", 100, "2000", 200000, part),
        line("price_platform", 1, "50000", 50000, part),
    ]
    flags = check(invoice(whole), expected=expected)
    assert rules(flags) == [Rule.LINE_AMOUNT, Rule.LINE_AMOUNT, Rule.TOTAL]
    assert (flags[0].expected, flags[0].actual) == ("1,096.77 EUR", "2,000.00 EUR")


def fee_and_usage_terms(**kwargs: Any) -> Terms:
    """A 500.00 platform fee billed in advance and storage at 0.10 a GB in arrears."""
    storage = Line(
        "storage",
        "Storage",
        PricingModel.USAGE,
        (Phase(Y1[0], Y2[1], unit_amount=D("0.10")),),
        metric="storage_gb",
    )
    platform = Line(
        "platform", "Platform fee", PricingModel.FLAT, (Phase(Y1[0], Y2[1], flat_amount=D(500)),)
    )
    return terms(lines=(platform, storage), **kwargs)


def fee_and_usage_expectation(**changes: Any) -> ContractExpectation:
    return expectation(
        terms=fee_and_usage_terms(),
        price_lines={"price_platform": "platform", "price_storage": "storage"},
        usage=recorded_in(MARCH, storage_gb=1_000) + recorded_in(APRIL, storage_gb=3_000),
        **changes,
    )


def test_april_fees_and_march_usage_on_one_draft_are_each_checked_in_their_own_period():
    lines = [
        line("price_platform", 1, "50000", 50000, APRIL),
        line("price_storage", 1_000, "10", 10000, MARCH),  # March's 1,000 GB
    ]
    draft = invoice(lines, created=APRIL[0], due=date(2026, 5, 1))
    assert check(draft, expected=fee_and_usage_expectation()) == []

    # April's usage billed with April's fee is not March's usage: the quantity is found
    lines[1] = line("price_storage", 1_000, "10", 10000, APRIL)
    flags = check(draft, expected=fee_and_usage_expectation())
    assert rules(flags) == [Rule.QUANTITY, Rule.LINE_AMOUNT, Rule.TOTAL]
    assert (flags[0].expected, flags[0].actual) == ("3000", "1000")


def test_a_draft_with_fees_and_no_usage_owes_the_usage_of_the_period_before():
    fee_only = invoice(
        [line("price_platform", 1, "50000", 50000, APRIL)], created=APRIL[0], due=date(2026, 5, 1)
    )
    flags = check(fee_only, expected=fee_and_usage_expectation())
    assert rules(flags) == [Rule.MISSING_CHARGE, Rule.TOTAL]
    assert flags[0].message == (
        "Charge 'Storage' of 100.00 EUR for 2026-03-01 to 2026-03-31 is not on the invoice."
    )
    # the first period has no period before it: its fee alone is the whole invoice
    january = [line("price_platform", 1, "50000", 50000, (Y1[0], date(2026, 1, 31)))]
    first = invoice(january, created=Y1[0], due=date(2026, 1, 31))
    assert check(first, expected=fee_and_usage_expectation()) == []


def test_a_period_that_is_not_one_of_the_contracts_is_flagged_even_when_amounts_agree():
    # monthly from the 1st, billed 15 March to 14 April for a whole month's price
    shifted = (date(2026, 3, 15), date(2026, 4, 14))
    lines = [
        line("price_seats_y1", 100, "2000", 200000, shifted),
        line("price_platform", 1, "50000", 50000, shifted),
    ]
    flags = check(invoice(lines))
    assert rules(flags) == [Rule.BILLING_PERIOD, Rule.BILLING_PERIOD]
    assert (flags[0].expected, flags[0].actual) == (
        "2026-03-01 to 2026-03-31",
        "2026-03-15 to 2026-04-14",
    )
    # a quarterly contract billed for one month
    quarterly = expectation(terms=replace(terms(), billing_months=3))
    flags = check(invoice(right_march()), expected=quarterly)
    assert Rule.BILLING_PERIOD in rules(flags)


def test_a_terminated_contract_is_checked_for_its_days_and_a_charge_after_them_is_named():
    ended = expectation(terms=replace(terms(), end=MARCH[1]), ended="terminated")
    assert check(invoice(right_march()), expected=ended) == []

    april = [
        line("price_seats_y1", 100, "2000", 200000, APRIL),
        line("price_platform", 1, "50000", 50000, APRIL),
    ]
    flags = check(invoice(april, created=APRIL[0], due=date(2026, 5, 1)), expected=ended)
    assert rules(flags) == [Rule.AFTER_CONTRACT_END, Rule.AFTER_CONTRACT_END, Rule.TOTAL]
    assert flags[0].message == (
        "Line 'price_seats_y1' (2,000.00 EUR) bills 2026-04-01 to 2026-04-30, after the last "
        "day of contract C-2026-00042 v1 (2026-03-31, terminated): nothing is owed for those "
        "days."
    )


def test_each_line_is_checked_against_the_version_in_force_on_its_days():
    # version 2 from April: seats at 15.00, on a price of its own
    v1 = expectation(terms=replace(terms(), end=MARCH[1]), ended="superseded by an amendment")
    v2_seats = Line(
        "seats", "Seats", PricingModel.PER_UNIT, (Phase(APRIL[0], Y2[1], D("15.00"), quantity=100),)
    )
    v2 = expectation(
        version=2,
        terms=replace(terms(), start=APRIL[0], lines=(v2_seats, terms().lines[1])),
        price_lines={"price_seats_v2": "seats", "price_platform": "platform"},
    )
    right = [
        line("price_seats_v2", 100, "1500", 150000, APRIL),
        line("price_platform", 1, "50000", 50000, APRIL),
    ]
    draft = invoice(right, created=APRIL[0], due=date(2026, 5, 1))
    assert check(draft, expected=[v1, v2]) == []
    assert check(invoice(right_march()), expected=[v2, v1]) == []

    # April billed at version 1's seat price: after version 1's last day, and v2's seats missing
    old_price = [line("price_seats_y1", 100, "2000", 200000, APRIL), right[1]]
    flags = check(invoice(old_price, created=APRIL[0], due=date(2026, 5, 1)), expected=[v1, v2])
    assert rules(flags) == [Rule.MISSING_CHARGE, Rule.AFTER_CONTRACT_END, Rule.TOTAL]


def test_lines_of_two_contracts_are_matched_to_their_own_whatever_the_order():
    other_line = Line(
        "support", "Support", PricingModel.FLAT, (Phase(*Y1, flat_amount=D("300.00")),)
    )
    other = expectation(
        number="C-2026-00043",
        terms=replace(terms(), lines=(other_line,)),
        price_lines={"price_support": "support"},
    )
    lines = [*right_march(), line("price_support", 1, "30000", 30000, MARCH)]
    assert check(invoice(lines), expected=[expectation(), other]) == []
    assert check(invoice(lines), expected=[other, expectation()]) == []

    lines[2] = line("price_support", 1, "35000", 35000, MARCH)
    one = check(invoice(lines), expected=[expectation(), other])
    assert one == check(invoice(lines), expected=[other, expectation()])
    assert rules(one) == [Rule.LINE_AMOUNT, Rule.TOTAL]
    assert "contract C-2026-00042 v1 and C-2026-00043 v1 says 2,800.00 EUR" in one[-1].message


# --- What the invoice says of itself: discounts, tax amounts, totals, Stripe Tax -------------

VAT19 = {"txr_vat19": D(19)}


def taxed_march() -> list[dict[str, Any]]:
    """March with 19% VAT added on each line: 380.00 and 95.00."""
    lines = right_march()
    for item in lines:
        item["taxes"][0]["amount"] = item["amount"] * 19 // 100
    return lines


def test_a_discount_the_contract_does_not_grant_is_flagged_with_its_amount():
    data, lines = invoice(right_march())
    data["discounts"] = ["di_spring"]
    data["total_discount_amounts"] = [{"amount": 25000, "discount": "di_spring"}]
    data["total"] = data["amount_due"] = data["subtotal"] - 25000
    flags = check((data, lines))
    assert rules(flags) == [Rule.DISCOUNT]
    assert flags[0].actual == "250.00 EUR off (di_spring)"
    assert "grants no discount or coupon" in flags[0].message


def test_tax_is_rate_times_taxable_amount_on_each_line():
    data = invoice(taxed_march())
    assert check(data, rate_percentages=VAT19) == []

    # 505.40 of tax on a 2,000.00 line at 19% (380.00)
    lines = taxed_march()
    lines[0]["taxes"][0]["amount"] = 50540
    flags = check(invoice(lines), rate_percentages=VAT19)
    assert rules(flags) == [Rule.TAX_AMOUNT]
    assert flags[0].message == (
        "Line 'price_seats_y1': 19% of 2,000.00 EUR is 380.00 EUR; the invoice says 505.40 EUR."
    )

    # taxed on another amount than the line bills
    lines = taxed_march()
    lines[1]["taxes"][0]["taxable_amount"] = 40000
    assert rules(check(invoice(lines), rate_percentages=VAT19)) == [Rule.TAX_AMOUNT]


def test_total_and_amount_due_are_checked_against_the_lines_and_the_credit_applied():
    data, lines = invoice(taxed_march())
    assert data["total"] == 297500
    data["total"] = 300000
    flags = check((data, lines))
    assert Rule.INVOICE_TOTALS in rules(flags)
    assert "2,500.00 EUR less 0.00 EUR of discounts and credits plus 475.00 EUR of tax is " in (
        flags[0].message
    )

    # 500.00 of the customer's credit applied: 2,475.00 due
    data, lines = invoice(taxed_march())
    data["starting_balance"], data["amount_due"] = -50000, 247500
    assert check((data, lines)) == []
    # a draft may not count the balance yet (Stripe applies it when finalizing), an open
    # invoice must
    data["amount_due"] = 297500
    assert check((data, lines)) == []
    data["status"] = "open"
    (due,) = check((data, lines))
    assert (due.rule, due.expected, due.actual) == (
        Rule.INVOICE_TOTALS,
        "2,475.00 EUR",
        "2,975.00 EUR",
    )
    # a draft asking for more than its total is wrong either way
    data["status"], data["amount_due"] = "draft", 307500
    assert rules(check((data, lines))) == [Rule.INVOICE_TOTALS]


def test_under_stripe_tax_automatic_tax_must_be_on_and_agree_with_the_customer():
    on_stripe_tax = expectation(stripe_tax=True, tax_treatment="stripe_tax", tax_rate_ids=())
    data, lines = invoice(right_march())
    assert rules(check((data, lines), expected=on_stripe_tax)) == [Rule.AUTOMATIC_TAX]
    data["automatic_tax"] = {"enabled": True, "status": "complete"}
    assert check((data, lines), expected=on_stripe_tax) == []

    # a reverse-charge customer (valid VAT ID) that Stripe Tax taxes as standard rated
    reverse = expectation(
        stripe_tax=True, tax_treatment="reverse_charge", tax_note="reverse charge", tax_rate_ids=()
    )
    taxed = taxed_march()
    flags = check(_automatic(taxed), expected=reverse)
    assert rules(flags) == [Rule.TAXABILITY, Rule.TAXABILITY]
    assert flags[0].expected == "reverse charge"
    assert flags[0].actual == "standard rated (380.00 EUR)"
    for item in taxed:
        item["taxes"][0].update(amount=0, taxability_reason="reverse_charge")
    assert check(_automatic(taxed), expected=reverse) == []


def _automatic(lines: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data, lines = invoice(lines)
    data["automatic_tax"] = {"enabled": True, "status": "complete"}
    return data, lines


def test_an_exemption_is_honoured_only_while_its_evidence_is_valid():
    untaxed = [
        line("price_seats_y1", 100, "2000", 200000, MARCH, taxes=()),
        line("price_platform", 1, "50000", 50000, MARCH, taxes=()),
    ]
    exempt = expectation(
        tax_rate_ids=(),
        tax_treatment="exempt",
        exemption_evidence="CERT-77",
        exemption_valid=(date(2025, 1, 1), date(2026, 12, 31)),
    )
    assert check(invoice(untaxed), expected=exempt) == []

    expired = replace(exempt, exemption_valid=(date(2025, 1, 1), date(2026, 2, 28)))
    (flag,) = check(invoice(untaxed), expected=expired)
    assert flag.rule == Rule.EXEMPTION_EVIDENCE
    assert flag.expected == "evidence valid on 2026-03-01"
    assert flag.actual == "evidence CERT-77 valid from 2025-01-01 until 2026-02-28"

    not_yet = replace(exempt, exemption_valid=(date(2026, 6, 1), None))
    assert rules(check(invoice(untaxed), expected=not_yet)) == [Rule.EXEMPTION_EVIDENCE]
    assert rules(check(invoice(untaxed), expected=replace(exempt, exemption_evidence=""))) == [
        Rule.EXEMPTION_EVIDENCE
    ]


# --- Corrections finance adds to a draft --------------------------------------------------


def correction(of: dict[str, Any], amount: int, **metadata: str) -> dict[str, Any]:
    """An invoice item finance added to correct a line: amount only, no price."""
    period = (
        datetime.fromtimestamp(of["period"]["start"], tz=UTC).date(),
        datetime.fromtimestamp(of["period"]["end"], tz=UTC).date() - timedelta(days=1),
    )
    item = line("price_none", 1, str(amount), amount, period, metadata=metadata)
    item["id"] = f"il_correction_{of['id']}"
    item["pricing"]["price_details"] = {}
    return item


def test_a_line_corrected_to_the_contract_is_clean_and_a_cancelled_line_too():
    overpriced = right_march()
    overpriced[0] = line("price_seats_y1", 100, "2100", 210000, MARCH)
    assert Rule.UNIT_PRICE in rules(check(invoice(overpriced)))

    fix = correction(overpriced[0], -10000, correction_of=overpriced[0]["id"])
    assert check(invoice([*overpriced, fix])) == []
    # a correction of the wrong size leaves the amount flagged
    short = correction(overpriced[0], -5000, correction_of=overpriced[0]["id"])
    assert rules(check(invoice([*overpriced, short]))) == [Rule.LINE_AMOUNT, Rule.TOTAL]

    extra = line("price_other", 1, "9900", 9900, MARCH)
    cancel = correction(extra, -9900, correction_of=extra["id"])
    assert check(invoice([*right_march(), extra, cancel])) == []


def test_a_missing_charge_finance_added_as_an_item_is_recognised_by_its_metadata():
    seats_only = right_march()[:1]
    platform = correction(right_march()[1], 50000, contract_line="platform")
    platform["id"] = "il_added_platform"
    # without the contract's number it explains nothing: another contract's, perhaps
    assert rules(check(invoice([*seats_only, platform]))) == [
        Rule.MISSING_CHARGE,
        Rule.UNEXPLAINED_LINE,
    ]
    platform["metadata"]["contract"] = "C-2026-00042"
    assert check(invoice([*seats_only, platform])) == []


def test_every_rule_has_a_label_in_the_queues_flag_filter():
    from billing.invoices.admin import RULE_LABELS

    codes = {v for k, v in vars(Rule).items() if k.isupper()}
    assert codes == set(RULE_LABELS)
