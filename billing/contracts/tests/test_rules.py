"""The rules every contract's prices follow, with the words a person sees when one is broken."""

from datetime import date
from decimal import Decimal

import pytest

from billing.contracts.rules import contract_errors, phase_errors, tier_errors
from billing.pricing import Line, Phase, PricingModel, Tier

D = Decimal
TERM = (date(2026, 1, 1), date(2028, 12, 31))


def phase(start=None, end=None, unit="10", flat="0", quantity=10, included=0, tiers=()):
    # A blank date is the contract's (the rules read phases as the pricing engine does).
    start, end = start or TERM[0], end or TERM[1]
    return Phase(start, end, D(unit), D(flat), quantity, included, tuple(tiers))


def tier(up_to, unit="1.00", flat="0"):
    return Tier(up_to, D(unit), D(flat))


def line(label, item_id, model, metric, phases):
    """A line as the messages name it: "Line seats" is the line keyed seats."""
    key = label.removeprefix("Line ")
    return Line(key, "", model, tuple(phases), metric=metric, item_id=item_id)


def seat_line(*phases, label="Line seats", item_id=1, model=PricingModel.PER_UNIT, metric=""):
    return line(label, item_id, model, metric, phases or (phase(),))


def test_a_valid_contract_has_no_errors():
    assert contract_errors([seat_line()], currency="EUR", term=TERM) == []


def test_tiers_must_ascend_with_one_open_ended_last_tier():
    errors = tier_errors([tier(500), tier(100), tier(None)], currency="EUR")
    assert errors == [
        "tier 2: 'up to' (100) must be greater than the tier before's (500); tiers go in "
        "ascending order."
    ]
    assert tier_errors([tier(100), tier(500)], currency="EUR") == [
        "tier 2: the last tier must be open-ended (leave 'up to' blank), so every quantity has "
        "a price."
    ]
    assert (
        "only the last tier can be open-ended"
        in tier_errors([tier(None), tier(100), tier(None)], currency="EUR")[0]
    )
    assert tier_errors([], currency="EUR") == ["a tiered price needs at least one tier."]


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [
        (
            "JPY",
            "1200.5",
            "tier 1: unit amount 1200.5 has too many decimals: JPY amounts have no decimals.",
        ),
        (
            "EUR",
            "9.999",
            "tier 1: unit amount 9.999 has too many decimals: EUR amounts have two decimals.",
        ),
        (
            "BHD",
            "1.2345",
            "tier 1: unit amount 1.2345 has too many decimals: BHD amounts have three decimals.",
        ),
    ],
)
def test_amounts_follow_the_currency_precision(currency, amount, message):
    assert tier_errors([tier(None, unit=amount)], currency=currency) == [message]


def test_usage_tiers_may_price_below_the_minor_unit():
    # 0.004 EUR per API call is a valid usage price (Stripe's unit_amount_decimal).
    assert tier_errors([tier(None, unit="0.004")], currency="EUR", per_unit_exact=False) == []
    # Their flat amounts are still charged amounts.
    assert tier_errors(
        [tier(None, unit="0.004", flat="0.001")], currency="EUR", per_unit_exact=False
    ) == ["tier 1: flat amount 0.001 has too many decimals: EUR amounts have two decimals."]


def test_ramp_phases_have_no_gaps_or_overlaps_and_stay_in_the_term():
    assert phase_errors(
        [phase(date(2026, 1, 1), date(2026, 12, 31)), phase(date(2027, 1, 5), None)], term=TERM
    ) == [
        "gap between phase 1 (ends 2026-12-31) and phase 2 (starts 2027-01-05): a ramp's "
        "phases follow each other day after day."
    ]
    assert phase_errors(
        [phase(date(2026, 1, 1), date(2026, 12, 31)), phase(date(2026, 12, 1), None)], term=TERM
    ) == ["phase 2 starts 2026-12-01, before phase 1 ends 2026-12-31: phases cannot overlap."]
    assert phase_errors([phase(date(2025, 12, 1), None)], term=TERM) == [
        "phase 1: 2025-12-01 to 2028-12-31 is outside the contract term 2026-01-01 to 2028-12-31."
    ]
    assert phase_errors([phase(date(2026, 6, 1), date(2026, 5, 1))], term=TERM)[0] == (
        "phase 1: ends 2026-05-01, before it starts 2026-06-01."
    )


def test_a_ramp_may_start_after_the_contract_starts():
    # A product added in year 2: its phases are contiguous, just not from day one.
    assert phase_errors([phase(date(2027, 1, 1), None)], term=TERM) == []


def test_line_rules_name_the_line_and_phase():
    errors = contract_errors(
        [
            seat_line(phase(quantity=0), label="Line seats"),
            line("Line api", 2, PricingModel.USAGE, "", (phase(),)),
            line("Line base", 3, PricingModel.FLAT, "", (phase(flat="0"),)),
            line("Line vol", 4, PricingModel.VOLUME, "", (phase(),)),
        ],
        currency="EUR",
        term=TERM,
    )
    assert errors == [
        "Line seats, phase 1: a per-unit line needs its committed quantity (at least 1).",
        "Line api, a usage-based line needs its usage metric (e.g. api_calls).",
        "Line base, phase 1: a flat fee line needs its flat amount.",
        "Line vol, phase 1: a tiered price needs at least one tier.",
    ]


def test_one_product_has_one_price_at_a_time():
    errors = contract_errors(
        [
            seat_line(phase(None, date(2026, 12, 31)), label="Line a", item_id=7),
            seat_line(phase(date(2026, 6, 1), None), label="Line b", item_id=7),
        ],
        currency="EUR",
        term=TERM,
    )
    assert errors == [
        "Line a and Line b price the same product on the same days (from 2026-06-01); one "
        "product has one price at a time."
    ]


def test_minimum_commit_needs_usage_and_currency_precision():
    assert contract_errors(
        [seat_line()], currency="JPY", term=TERM, minimum_commit=D("1000.5")
    ) == [
        "Minimum commit 1000.5 has too many decimals: JPY amounts have no decimals.",
        "A minimum commit needs at least one usage-based line to count against.",
    ]


def test_end_before_start_is_the_only_error_reported():
    assert contract_errors(
        [seat_line()], currency="EUR", term=(date(2026, 5, 1), date(2026, 4, 1))
    ) == ["The contract ends 2026-04-01, before it starts 2026-05-01."]
