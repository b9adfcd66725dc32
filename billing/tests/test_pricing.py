"""Expected charges, ACV and TCV: hand-computed cases, then properties over many contracts."""

import dataclasses
import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing.money import STRIPE_CURRENCIES, is_exact
from billing.pricing import (
    MINIMUM_COMMIT_KEY,
    Line,
    Phase,
    PricingModel,
    Terms,
    Tier,
    add_months,
    annual_and_total_value,
    annual_contract_value,
    billing_period_containing,
    billing_periods,
    expected_charges,
    graduated_amount,
    monthly_recurring,
    total_contract_value,
    volume_amount,
)

D = Decimal
START, END = date(2026, 1, 1), date(2028, 12, 31)


def terms(*lines: Line, currency="USD", months=1, start=START, end=END, anchor=None, commit=None):
    return Terms(
        currency=currency,
        start=start,
        end=end,
        billing_months=months,
        anchor=anchor or start,
        lines=lines,
        minimum_commit=commit,
    )


def line(model, *phases, key="l1", metric=""):
    return Line(key=key, description=key, model=model, phases=phases, metric=metric)


def whole_term(**prices) -> Phase:
    return Phase(start=START, end=END, **prices)


SEAT_TIERS = (
    Tier(up_to=100, unit_amount=D("10.00")),
    Tier(up_to=500, unit_amount=D("8.00")),
    Tier(up_to=None, unit_amount=D("6.00"), flat_amount=D("50.00")),
)


# --- Billing periods


def test_monthly_periods_follow_the_anchor_and_clamp_to_month_ends():
    t = terms(start=date(2026, 1, 31), end=date(2026, 4, 29), anchor=date(2026, 1, 31))
    assert billing_periods(t) == [
        (date(2026, 1, 31), date(2026, 2, 27)),
        (date(2026, 2, 28), date(2026, 3, 30)),
        (date(2026, 3, 31), date(2026, 4, 29)),
    ]


def test_quarterly_periods_with_an_anchor_after_the_start():
    t = terms(months=3, start=date(2026, 1, 15), end=date(2026, 12, 31), anchor=date(2026, 4, 1))
    assert billing_periods(t)[:2] == [
        (date(2026, 1, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 6, 30)),
    ]
    assert billing_period_containing(t, date(2026, 5, 20)) == (date(2026, 4, 1), date(2026, 6, 30))


def test_add_months_keeps_the_anchor_day():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 1, 31), 2) == date(2026, 3, 31)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)


# --- Each pricing model, by hand


def test_flat_fee_for_a_whole_period():
    t = terms(line(PricingModel.FLAT, whole_term(flat_amount=D("2500.00"))))
    charges = expected_charges(t, (date(2026, 3, 1), date(2026, 3, 31)))
    assert [c.amount for c in charges.charges] == [D("2500.00")]
    assert charges.total == D("2500.00")


def test_per_seat_price_times_committed_seats():
    t = terms(line(PricingModel.PER_UNIT, whole_term(unit_amount=D("12.50"), quantity=340)))
    charges = expected_charges(t, (date(2026, 3, 1), date(2026, 3, 31)))
    (charge,) = charges.charges
    assert (charge.quantity, charge.unit_amount, charge.amount) == (340, D("12.50"), D("4250.00"))


def test_graduated_tiers_by_hand():
    # 100 x 10 + 400 x 8 + 100 x 6 + 50 flat = 1000 + 3200 + 600 + 50
    t = terms(line(PricingModel.GRADUATED, whole_term(quantity=600, tiers=SEAT_TIERS)))
    assert expected_charges(t, (date(2026, 1, 1), date(2026, 1, 31))).total == D("4850.00")


def test_volume_tiers_by_hand():
    # all 600 seats at the third tier: 600 x 6 + 50 flat
    t = terms(line(PricingModel.VOLUME, whole_term(quantity=600, tiers=SEAT_TIERS)))
    assert expected_charges(t, (date(2026, 1, 1), date(2026, 1, 31))).total == D("3650.00")
    # 100 seats sit in the first tier: 100 x 10
    t = terms(line(PricingModel.VOLUME, whole_term(quantity=100, tiers=SEAT_TIERS)))
    assert expected_charges(t, (date(2026, 1, 1), date(2026, 1, 31))).total == D("1000.00")


def test_usage_above_the_included_units():
    api = line(
        PricingModel.USAGE,
        whole_term(unit_amount=D("0.0040"), included_units=100_000),
        metric="api_calls",
    )
    t = terms(api)
    period = (date(2026, 2, 1), date(2026, 2, 28))
    # 1,234,567 calls - 100,000 included = 1,134,567 x 0.004 = 4538.268 -> 4538.27
    assert expected_charges(t, period, {"api_calls": 1_234_567}).total == D("4538.27")
    assert expected_charges(t, period, {"api_calls": 90_000}).total == D("0.00")
    assert expected_charges(t, period, {}).total == D("0.00")


def test_graduated_tiers_on_usage_are_not_prorated():
    t = terms(line(PricingModel.GRADUATED, whole_term(tiers=SEAT_TIERS), metric="events"))
    first_partial = (date(2025, 12, 15), date(2026, 1, 14))
    assert expected_charges(t, first_partial, {"events": 150}).total == D("1400.00")


# --- Proration and ramps, by hand


def test_contract_starting_mid_period_is_prorated_by_day():
    # Starts 2026-01-11 on a calendar-month anchor: 21 of January's 31 days.
    t = terms(
        line(PricingModel.FLAT, whole_term(flat_amount=D("3100.00"))),
        start=date(2026, 1, 11),
        anchor=date(2026, 1, 1),
    )
    charges = expected_charges(t, (date(2026, 1, 1), date(2026, 1, 31)))
    (charge,) = charges.charges
    assert (charge.start, charge.end, charge.amount) == (
        date(2026, 1, 11),
        date(2026, 1, 31),
        D("2100.00"),
    )


def test_ramp_changing_mid_period_splits_the_charge_by_day():
    # Seats ramp from 100 at 10.00 to 150 at 9.00 on 2026-04-16, inside a quarterly period.
    ramp = line(
        PricingModel.PER_UNIT,
        Phase(date(2026, 1, 1), date(2026, 4, 15), unit_amount=D("10.00"), quantity=100),
        Phase(date(2026, 4, 16), END, unit_amount=D("9.00"), quantity=150),
    )
    t = terms(ramp, months=3)
    q2 = (date(2026, 4, 1), date(2026, 6, 30))  # 91 days: 15 in phase 1, 76 in phase 2
    charges = expected_charges(t, q2)
    assert [c.amount for c in charges.charges] == [
        D("164.84"),  # 1000.00 x 15 / 91 = 164.835...
        D("1127.47"),  # 1350.00 x 76 / 91 = 1127.472...
    ]
    assert charges.total == D("1292.31")


def test_monthly_recurring_revenue_follows_the_ramp_and_leaves_usage_out():
    # A quarterly contract: seats 100 x 30.00 then 150 x 27.00 from 2026-04-16, a platform fee
    # of 600.00 a quarter, and usage (not recurring).
    ramp = line(
        PricingModel.PER_UNIT,
        Phase(date(2026, 1, 1), date(2026, 4, 15), unit_amount=D("30.00"), quantity=100),
        Phase(date(2026, 4, 16), END, unit_amount=D("27.00"), quantity=150),
    )
    fee = line(PricingModel.FLAT, whole_term(flat_amount=D("600.00")), key="fee")
    usage = line(PricingModel.USAGE, whole_term(unit_amount=D("0.01")), key="api", metric="api")
    t = terms(ramp, fee, usage, months=3, end=date(2026, 12, 31))
    days = [
        date(2025, 12, 31),
        date(2026, 3, 31),
        date(2026, 4, 15),
        date(2026, 4, 30),
        date(2027, 1, 31),
    ]
    assert monthly_recurring(t, days) == [
        D(0),  # before the term
        D("1200.00"),  # (3,000 + 600) / 3
        D("1200.00"),
        D("1550.00"),  # (4,050 + 600) / 3
        D(0),  # after the term
    ]


def test_usage_ramp_uses_the_phase_in_force_at_period_end():
    usage = line(
        PricingModel.USAGE,
        Phase(date(2026, 1, 1), date(2026, 1, 20), unit_amount=D("0.10")),
        Phase(date(2026, 1, 21), END, unit_amount=D("0.08")),
        metric="gb",
    )
    t = terms(usage)
    assert expected_charges(t, (date(2026, 1, 1), date(2026, 1, 31)), {"gb": 1000}).total == D(
        "80.00"
    )


def test_jpy_charges_round_to_whole_yen():
    t = terms(
        line(PricingModel.PER_UNIT, whole_term(unit_amount=D("1234"), quantity=7)),
        currency="JPY",
        start=date(2026, 1, 11),
        anchor=date(2026, 1, 1),
    )
    # 8638 x 21 / 31 = 5851.612... -> 5852 yen
    assert expected_charges(t, (date(2026, 1, 1), date(2026, 1, 31))).total == D("5852")


def test_bhd_charges_keep_three_decimals():
    t = terms(
        line(PricingModel.PER_UNIT, whole_term(unit_amount=D("12.345"), quantity=3)),
        currency="BHD",
        start=date(2026, 1, 11),
        anchor=date(2026, 1, 1),
    )
    # 37.035 x 21 / 31 = 25.0882... -> 25.088 BHD
    assert expected_charges(t, (date(2026, 1, 1), date(2026, 1, 31))).total == D("25.088")


# --- Minimum commit


def test_true_up_when_usage_falls_short_of_the_commit():
    # 120,000 a year, billed quarterly: 30,000 owed each quarter in usage.
    api = line(PricingModel.USAGE, whole_term(unit_amount=D("0.01")), metric="calls")
    t = terms(api, months=3, commit=D("120000"))
    q1 = (date(2026, 1, 1), date(2026, 3, 31))
    charges = expected_charges(t, q1, {"calls": 1_000_000})  # 10,000 of usage
    assert [(c.line_key, c.amount) for c in charges.charges] == [
        ("l1", D("10000.00")),
        (MINIMUM_COMMIT_KEY, D("20000.00")),
    ]
    assert charges.total == D("30000.00")


def test_no_true_up_when_usage_meets_the_commit():
    api = line(PricingModel.USAGE, whole_term(unit_amount=D("0.01")), metric="calls")
    t = terms(api, months=3, commit=D("120000"))
    charges = expected_charges(t, (date(2026, 1, 1), date(2026, 3, 31)), {"calls": 4_000_000})
    assert [c.line_key for c in charges.charges] == ["l1"]


def test_fixed_fees_do_not_count_towards_the_usage_commit():
    t = terms(
        line(PricingModel.FLAT, whole_term(flat_amount=D("50000")), key="platform"),
        line(PricingModel.USAGE, whole_term(unit_amount=D("1")), key="usage", metric="u"),
        months=12,
        commit=D("10000"),
    )
    charges = expected_charges(t, (date(2026, 1, 1), date(2026, 12, 31)), {"u": 4000})
    assert {c.line_key: c.amount for c in charges.charges} == {
        "platform": D("50000.00"),
        "usage": D("4000.00"),
        MINIMUM_COMMIT_KEY: D("6000.00"),
    }


# --- ACV and TCV


def test_acv_and_tcv_of_a_three_year_ramp():
    # Year 1: 500 seats x 20/month; year 2: 800 x 18; year 3: 1000 x 16; plus 1,000/month.
    t = terms(
        line(
            PricingModel.PER_UNIT,
            Phase(date(2026, 1, 1), date(2026, 12, 31), unit_amount=D("20"), quantity=500),
            Phase(date(2027, 1, 1), date(2027, 12, 31), unit_amount=D("18"), quantity=800),
            Phase(date(2028, 1, 1), END, unit_amount=D("16"), quantity=1000),
            key="seats",
        ),
        line(PricingModel.FLAT, whole_term(flat_amount=D("1000")), key="platform"),
    )
    assert annual_contract_value(t) == D("132000.00")  # 12 x (10,000 + 1,000)
    assert total_contract_value(t) == D("132000") + D("184800") + D("204000")


def test_tcv_counts_the_minimum_commit_but_not_unknown_usage():
    t = terms(
        line(PricingModel.USAGE, whole_term(unit_amount=D("1")), metric="u"),
        months=3,
        commit=D("40000"),
    )
    assert annual_contract_value(t) == D("40000.00")
    assert total_contract_value(t) == D("120000.00")


def test_acv_of_a_contract_shorter_than_a_year_is_its_whole_value():
    t = terms(
        line(PricingModel.FLAT, whole_term(flat_amount=D("100"))),
        end=date(2026, 6, 30),
    )
    assert annual_contract_value(t) == total_contract_value(t) == D("600.00")


# --- Properties


amounts = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
quantities = st.integers(min_value=0, max_value=5_000)


@st.composite
def tier_lists(draw):
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=3_000), max_size=4)))
    ups = [*bounds, None]
    return tuple(Tier(up_to=up, unit_amount=draw(amounts), flat_amount=draw(amounts)) for up in ups)


def unit_by_unit_graduated(quantity: int, tiers) -> Decimal:
    """Brute force: walk every unit, as a person would with a calculator."""
    total, reached = D(0), set()
    for unit in range(1, quantity + 1):
        index = next(i for i, t in enumerate(tiers) if t.up_to is None or unit <= t.up_to)
        total += tiers[index].unit_amount
        reached.add(index)
    return total + sum((tiers[i].flat_amount for i in reached), D(0))


@given(tiers=tier_lists(), quantity=st.integers(min_value=0, max_value=4_000))
def test_graduated_equals_pricing_each_unit_in_its_tier(tiers, quantity):
    assert graduated_amount(quantity, tiers) == unit_by_unit_graduated(quantity, tiers)


@given(tiers=tier_lists(), quantity=st.integers(min_value=1, max_value=4_000))
def test_volume_prices_every_unit_at_the_tier_of_the_whole_quantity(tiers, quantity):
    tier = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
    assert volume_amount(quantity, tiers) == quantity * tier.unit_amount + tier.flat_amount


@given(tiers=tier_lists(), a=quantities, b=quantities)
def test_graduated_never_falls_as_quantity_grows(tiers, a, b):
    low, high = sorted((a, b))
    assert graduated_amount(low, tiers) <= graduated_amount(high, tiers)


@st.composite
def contracts(draw):
    currency = draw(st.sampled_from(["USD", "EUR", "JPY", "KRW", "BHD", "KWD", "GBP"]))
    start = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 400)))
    end = add_months(start, draw(st.integers(1, 36))) - timedelta(days=1)
    end -= timedelta(days=draw(st.integers(0, 20)))
    assume(end >= start)
    anchor = start + timedelta(days=draw(st.integers(0, 27)))
    months = draw(st.sampled_from([1, 3, 6, 12]))
    # A ramp: cut points inside the term, contiguous phases.
    cuts = sorted(draw(st.sets(st.integers(1, max(1, (end - start).days)), max_size=3)))
    edges = [start] + [start + timedelta(days=c) for c in cuts if start + timedelta(days=c) <= end]
    edges = sorted(set(edges))
    places = 0 if currency in {"JPY", "KRW"} else 3 if currency in {"BHD", "KWD"} else 2
    money = st.decimals(min_value=0, max_value=50_000, places=places, allow_nan=False)
    phases = tuple(
        Phase(
            start=edge,
            end=(edges[i + 1] - timedelta(days=1)) if i + 1 < len(edges) else end,
            unit_amount=draw(money),
            flat_amount=draw(money),
            quantity=draw(st.integers(0, 2_000)),
        )
        for i, edge in enumerate(edges)
    )
    model = draw(st.sampled_from([PricingModel.FLAT, PricingModel.PER_UNIT]))
    return terms(
        line(model, *phases), currency=currency, months=months, start=start, end=end, anchor=anchor
    )


@given(t=contracts())
def test_every_charge_is_exact_in_its_currency_and_totals_add_up(t):
    for period in billing_periods(t):
        charges = expected_charges(t, period)
        for charge in charges.charges:
            assert is_exact(charge.amount, t.currency)
            assert charge.amount >= 0
            assert period[0] <= charge.start <= charge.end <= period[1]
        assert charges.total == sum((c.amount for c in charges.charges), D(0))


@given(t=contracts())
def test_every_day_of_the_term_is_charged_exactly_once(t):
    covered = []
    for period in billing_periods(t):
        for charge in expected_charges(t, period).charges:
            covered.append((charge.start, charge.end))
    covered.sort()
    assert covered[0][0] == t.start
    assert covered[-1][1] == t.end
    for (_, end), (next_start, _) in itertools.pairwise(covered):
        assert next_start == end + timedelta(days=1)


@given(t=contracts())
def test_tcv_is_the_sum_of_every_period(t):
    periods = billing_periods(t)
    summed = sum((expected_charges(t, p).total for p in periods), D(0))
    # TCV and the periods clip the same slices to the term, so they round alike.
    assert total_contract_value(t) == summed


@given(t=contracts(), commit=st.none() | amounts)
def test_both_values_in_one_pass_are_the_values_one_at_a_time(t, commit):
    # The imports value thousands of contracts through the one-pass version.
    t = dataclasses.replace(t, minimum_commit=commit)
    assert annual_and_total_value(t) == (annual_contract_value(t), total_contract_value(t))


@given(
    currency=st.sampled_from(sorted(STRIPE_CURRENCIES)),
    price=st.integers(min_value=0, max_value=10**7),
    seats=st.integers(min_value=0, max_value=10_000),
    months=st.sampled_from([1, 3, 6, 12]),
    years=st.integers(min_value=1, max_value=3),
)
def test_whole_periods_need_no_proration_and_tcv_is_years_times_acv(
    currency, price, seats, months, years
):
    start = date(2026, 2, 1)
    unit = D(price).scaleb(-2) if currency not in {"JPY", "KRW"} else D(price)
    assume(is_exact(unit, currency))
    t = terms(
        line(
            PricingModel.PER_UNIT, Phase(start, date(2099, 1, 1), unit_amount=unit, quantity=seats)
        ),
        currency=currency,
        months=months,
        start=start,
        end=add_months(start, 12 * years) - timedelta(days=1),
    )
    for period in billing_periods(t):
        assert expected_charges(t, period).total == unit * seats
    assert total_contract_value(t) == annual_contract_value(t) * years


@pytest.mark.parametrize("split_day", [1, 10, 15, 28])
def test_splitting_a_period_into_two_equal_phases_loses_at_most_a_minor_unit(split_day):
    price = D("1000.00")
    split = date(2026, 3, split_day)
    t = terms(
        line(
            PricingModel.FLAT,
            Phase(START, split - timedelta(days=1), flat_amount=price),
            Phase(split, END, flat_amount=price),
        )
    )
    total = expected_charges(t, (date(2026, 3, 1), date(2026, 3, 31))).total
    assert abs(total - price) <= D("0.01")
