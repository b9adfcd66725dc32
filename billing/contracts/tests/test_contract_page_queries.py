"""The contract page answers in the same number of queries whatever the number of lines,
phases, tiers and recorded changes: opened as a draft (editable) or active (read-only), by
finance or by the account manager, and saved. Its inlines and plain widgets, written in Python
for speed, are the markup nested-admin's and Django's templates write."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.db import connection
from django.forms.renderers import DjangoTemplates
from django.forms.utils import ErrorList
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.models import User
from billing.catalog.models import ListPrice
from billing.contracts.inline_html import PlainInputsRenderer
from billing.contracts.models import Contract, PricePhase, PriceTier
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.contract_form import contract_form
from billing.contracts.tests.factories import (
    CatalogItemFactory,
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
    PriceTierFactory,
)
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
ADD = reverse("admin:billing_contract_add")


def change_url(contract: Contract) -> str:
    return reverse("admin:billing_contract_change", args=[contract.pk])


@pytest.fixture
def users(demo_logins):
    return {name: User.objects.get(username=name) for name in demo_logins}


def logged_in(username: str, demo_logins) -> Client:
    client = Client()
    assert client.login(username=username, password=demo_logins[username])
    return client


def draft_with_lines(lines: int, manager: User) -> Contract:
    """A 2026-2028 draft of the manager's with `lines` lines: two in three are seats ramping
    over two phases (one in two of those with a list price), one in three a graduated usage
    line with two tiers. Every phase was changed once since (the change log)."""
    contract = ContractFactory(account=AccountFactory(account_manager=manager), created_by=manager)
    for n in range(lines):
        item = CatalogItemFactory()
        if n % 3 == 2:
            line = ContractLineFactory(
                contract=contract, item=item, pricing_model="graduated", metric="api_calls"
            )
            phase = PricePhaseFactory(line=line, unit_amount=0, quantity=0)
            PriceTierFactory(phase=phase, up_to=1000, unit_amount=Decimal("0.05"))
            PriceTierFactory(phase=phase, up_to=None, unit_amount=Decimal("0.01"))
            continue
        if n % 2:
            ListPrice.objects.create(item=item, currency="EUR", unit_amount=Decimal("25.00"))
        line = ContractLineFactory(contract=contract, item=item)
        PricePhaseFactory(line=line, end_date=date(2026, 12, 31))
        PricePhaseFactory(line=line, start_date=date(2027, 1, 1), unit_amount=Decimal("18.00"))
    for phase in PricePhase.objects.filter(line__contract=contract):
        phase.quantity += 1
        phase.save()
    return contract


def activated(contract: Contract, users) -> Contract:
    contract_submit(contract=contract, by=users["admin"])
    return contract_approve(contract=contract, by=users["finance"])


def page_queries(client: Client, contract: Contract) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(change_url(contract))
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("username", ["finance", "manager"])
@pytest.mark.parametrize("active", [False, True], ids=["draft", "active"])
def test_the_contract_page_reads_the_same_queries_at_3_and_30_lines(
    demo_logins, users, username, active
):
    # given a contract of 3 lines and one of 30, with phases, tiers and changes recorded
    small, large = (draft_with_lines(n, users["manager"]) for n in (3, 30))
    if active:
        small, large = activated(small, users), activated(large, users)
    client = logged_in(username, demo_logins)
    client.get(change_url(small))  # sessions, content types and the like read once

    # when each page is opened
    small_queries, _ = page_queries(client, small)
    large_queries, page = page_queries(client, large)

    # then both take the same number of queries, and the large one shows all it has
    assert large_queries == small_queries
    assert large_queries < 30  # the order of magnitude, not a budget to tune
    assert ('name="_save"' in page) is not active
    assert page.count("contract price 20.00 EUR: 20.0% off") == 10  # the lines priced 25.00
    assert page.count("no list price in this currency") == 20
    assert "quantity: 100 → 101" in page  # the change log
    for line in large.lines.select_related("item"):
        assert line.key in page
        if not active:  # each line's item, in its search box
            assert f'<option value="{line.item_id}" selected>{line.item.name}</option>' in page


def _rows_read(queries: CaptureQueriesContext) -> int:
    """The reads of lines, phases, tiers, catalog items and list prices."""
    tables = r'FROM "billing_(contractline|pricephase|pricetier|catalogitem|listprice)"'
    return sum(
        1
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and re.search(tables, q["sql"])
    )


def posted_as_shown(contract: Contract, **changes) -> dict[str, str]:
    """The contract page's form as the browser posts it back, with `changes` made to it."""
    lines = [
        {
            "id": line.pk,
            "key": line.key,
            "item": line.item_id,
            "pricing_model": line.pricing_model,
            "metric": line.metric,
            "phases": [
                {
                    "id": phase.pk,
                    "start_date": phase.start_date or "",
                    "end_date": phase.end_date or "",
                    "quantity": phase.quantity,
                    "unit_amount": phase.unit_amount,
                    "flat_amount": phase.flat_amount,
                    "included_units": phase.included_units,
                    "tiers": [
                        {
                            "id": tier.pk,
                            "up_to": "" if tier.up_to is None else tier.up_to,
                            "unit_amount": tier.unit_amount,
                            "flat_amount": tier.flat_amount,
                        }
                        for tier in phase.tiers.all()
                    ],
                }
                for phase in line.phases.all()
            ],
        }
        for line in contract.lines.prefetch_related("phases__tiers")
    ]
    contract.refresh_from_db()
    return contract_form(
        lines,
        number=contract.number,
        account=contract.account_id,
        lock_version_seen=contract.lock_version,
        **changes,
    )


def test_saving_the_contract_page_reads_as_much_at_3_lines_as_at_30(demo_logins, users):
    # given a 3-line and a 30-line draft the manager has saved once from the page
    client = logged_in("manager", demo_logins)
    small, large = (draft_with_lines(n, users["manager"]) for n in (3, 30))
    for contract in (small, large):
        response = client.post(change_url(contract), posted_as_shown(contract))
        assert response.status_code == 302

    # when the manager changes the purchase order number and saves each again
    reads = []
    for contract in (small, large):
        form = posted_as_shown(contract, po_number="PO-7")
        with CaptureQueriesContext(connection) as queries:
            response = client.post(change_url(contract), form)
        assert response.status_code == 302
        reads.append(_rows_read(queries))

    # then the lines, phases, tiers and items are read as many times for both
    assert reads[0] == reads[1]
    large.refresh_from_db()
    assert large.po_number == "PO-7"


def prefix_of(form: dict[str, str], pattern: str, pk: int) -> str:
    """The form prefix of the row `pk` among the rows whose id fields match `pattern`."""
    return next(k for k, v in form.items() if re.fullmatch(pattern, k) and v == str(pk))[:-3]


LINE_ID, PHASE_ID = r"lines-\d+-id", r"lines-\d+-phases-\d+-id"
TIER_ID = r"lines-\d+-phases-\d+-tiers-\d+-id"


def test_a_change_to_one_line_of_many_is_saved_and_the_rest_left_as_it_was(demo_logins, users):
    # given a 30-line draft
    client = logged_in("manager", demo_logins)
    contract = draft_with_lines(30, users["manager"])
    before = {p.pk: (p.quantity, p.unit_amount) for p in PricePhase.objects.all()}
    tiered = PricePhase.objects.filter(tiers__isnull=False).distinct().last()
    assert tiered is not None
    form = posted_as_shown(contract)

    # when the manager changes the quantity of one phase and the price of one tier
    form[f"{prefix_of(form, PHASE_ID, tiered.pk)}-quantity"] = "5000"
    tier = tiered.tiers.get(up_to=1000)
    form[f"{prefix_of(form, TIER_ID, tier.pk)}-unit_amount"] = "0.04"
    response = client.post(change_url(contract), form)

    # then those two are saved, and nothing else changed
    assert response.status_code == 302
    tier.refresh_from_db()
    assert tier.unit_amount == Decimal("0.04")
    after = {p.pk: (p.quantity, p.unit_amount) for p in PricePhase.objects.all()}
    assert after.pop(tiered.pk)[0] == 5000
    before.pop(tiered.pk)
    assert after == before
    assert tiered.history.filter(history_type="~", quantity=5000).exists()


@pytest.mark.parametrize("row", ["line", "phase", "tier"])
def test_an_id_of_another_contracts_row_posted_by_hand_is_refused_and_changes_nothing(
    demo_logins, users, row
):
    # given two drafts: the manager's own, and another manager's on another account
    client = logged_in("manager", demo_logins)
    own = draft_with_lines(3, users["manager"])
    others = draft_with_lines(3, users["manager2"])
    theirs = {
        "line": (LINE_ID, own.lines.first(), others.lines.first()),
        "phase": (
            PHASE_ID,
            PricePhase.objects.filter(line__contract=own).first(),
            PricePhase.objects.filter(line__contract=others).first(),
        ),
        "tier": (
            TIER_ID,
            PriceTier.objects.filter(phase__line__contract=own).first(),
            PriceTier.objects.filter(phase__line__contract=others).first(),
        ),
    }
    pattern, mine, target = theirs[row]
    before = _rows_of(others)
    # when the manager posts their page with one row's id replaced by the other contract's
    form = posted_as_shown(own)
    prefix = prefix_of(form, pattern, mine.pk)
    form[f"{prefix}-id"] = str(target.pk)
    form[f"{prefix}-{'unit_amount' if row != 'line' else 'description'}"] = "7"

    response = client.post(change_url(own), form)

    # then the save is refused, naming the row, and the other contract is as it was
    assert response.status_code == 200
    assert "is not part of this contract" in response.content.decode()
    assert _rows_of(others) == before


def _rows_of(contract: Contract) -> list:
    return (
        [(line.pk, line.contract_id, line.description) for line in contract.lines.order_by("pk")]
        + list(
            PricePhase.objects.filter(line__contract=contract)
            .order_by("pk")
            .values_list("pk", "line_id", "unit_amount")
        )
        + list(
            PriceTier.objects.filter(phase__line__contract=contract)
            .order_by("pk")
            .values_list("pk", "phase_id", "unit_amount")
        )
    )


def test_deleting_a_line_on_the_page_deletes_its_phases_and_tiers(demo_logins, users):
    client = logged_in("manager", demo_logins)
    contract = draft_with_lines(3, users["manager"])
    tiered = contract.lines.get(pricing_model="graduated")
    form = posted_as_shown(contract)
    # as the page's script marks them: the line, and each phase and tier under it
    prefix = prefix_of(form, LINE_ID, tiered.pk)
    for key in [k for k in form if k.startswith(f"{prefix}-") and k.endswith("-id")]:
        form[f"{key[:-3]}-DELETE"] = "on"

    response = client.post(change_url(contract), form)

    assert response.status_code == 302
    assert list(contract.lines.values_list("pricing_model", flat=True)) == ["per_unit"] * 2
    assert not PricePhase.objects.filter(line=tiered.pk).exists()


def test_a_ramps_discount_is_against_its_first_phase(demo_logins, users):
    # given a ramp whose first phase has a blank start (the contract's) and a list price
    contract = draft_with_lines(2, users["manager"])  # line 2 has a list price of 25.00
    line = contract.lines.order_by("position", "id").last()
    assert line is not None
    line.phases.filter(start_date__isnull=False).update(unit_amount=Decimal("10.00"))

    page = logged_in("finance", demo_logins).get(change_url(contract)).content.decode()

    # then the discount is the first year's (20.00), not the second's
    assert "25.00 EUR per unit; contract price 20.00 EUR: 20.0% off" in page


def test_the_number_hint_on_a_new_contract_is_the_number_it_will_get(demo_logins, users):
    # given this year's contracts up to number 7
    year = timezone.localdate().year
    ContractFactory(number=f"C-{year}-00007")
    ContractFactory(number=f"C-{year - 1}-00031")
    client = logged_in("manager", demo_logins)

    # when the manager opens a new contract, the hint names the next number
    page = client.get(ADD).content.decode()
    assert f"C-{year}-00008 for a contract starting in {year}" in page
    assert "(C-2026-00001)" not in page  # the hint as it was, the same every time

    # and saving it blank gives that number
    account = AccountFactory(account_manager=users["manager"])
    item = CatalogItemFactory()
    lines = [
        {"key": "seats", "item": item.pk, "pricing_model": "per_unit", "phases": [{"quantity": 5}]}
    ]
    start, end = date(year, 1, 1), date(year, 12, 31)
    response = client.post(
        ADD, contract_form(lines, account=account.pk, start_date=start, end_date=end)
    )
    assert response.status_code == 302
    assert Contract.objects.filter(account=account).get().number == f"C-{year}-00008"


def test_a_saved_contract_shows_no_next_number_hint(demo_logins, users):
    draft = draft_with_lines(1, users["manager"])
    active = activated(draft_with_lines(1, users["manager"]), users)
    for username in ("manager", "finance"):
        client = logged_in(username, demo_logins)
        for contract in (draft, active):
            assert "the next number" not in client.get(change_url(contract)).content.decode()


# --- The inlines, written in Python, are nested-admin's markup (its script relies on it)


def _markup(html: str) -> str:
    """HTML without the whitespace that does not show, to compare markup."""
    html = re.sub(r">\s+", ">", str(html))
    html = re.sub(r"\s+<", "<", html)
    return re.sub(r"\s+", " ", html).strip()


def _money_masked(html: str) -> str:
    """Markup with a read-only amount's text left out: the page writes it as money of the
    contract's currency (test_money_shown), the templates as stored."""
    return re.sub(r'(class="djn-td field-(?:unit|flat)_amount"><p>)[^<]*(</p>)', r"\1\2", html)


def _inline_levels(response) -> list:
    """The page's lines, the phases of its tiered line and of a ramp, and the tiers of the
    tiered phase: each inline formset with the nested-admin template it stands for."""
    lines = response.context["inline_admin_formsets"][0]
    levels = [(lines, "nesting/admin/inlines/stacked.html")]
    for line in list(lines):
        for phases in getattr(line.form, "inlines", []):
            levels.append((phases, "nesting/admin/inlines/tabular.html"))
            for phase in list(phases):
                levels += [
                    (tiers, "nesting/admin/inlines/tabular.html")
                    for tiers in getattr(phase.form, "inlines", [])
                    if tiers.formset.initial_form_count()
                ]
    return levels


def _assert_drawn_as_nested_admin_draws(response) -> None:
    levels = _inline_levels(response)
    assert {template for _, template in levels} == {
        "nesting/admin/inlines/stacked.html",
        "nesting/admin/inlines/tabular.html",
    }
    for inline_admin_formset, template in levels:
        ours = inline_admin_formset.opts.template.html(inline_admin_formset, True)
        theirs = render_to_string(
            template, {"inline_admin_formset": inline_admin_formset, "forloop": {"last": True}}
        )
        assert _money_masked(_markup(ours)) == _money_masked(_markup(theirs))


@pytest.mark.parametrize("username", ["finance", "manager"])
@pytest.mark.parametrize("active", [False, True], ids=["draft", "active"])
def test_the_inlines_are_drawn_as_nested_admins_templates_draw_them(
    demo_logins, users, username, active
):
    contract = draft_with_lines(3, users["manager"])
    if active:
        contract = activated(contract, users)

    response = logged_in(username, demo_logins).get(change_url(contract))

    _assert_drawn_as_nested_admin_draws(response)


def test_the_inlines_are_drawn_as_nested_admin_draws_them_with_errors_and_when_new(
    demo_logins, users
):
    client = logged_in("manager", demo_logins)
    # a new contract's page: only the add-row templates
    new = client.get(ADD)
    lines = new.context["inline_admin_formsets"][0]
    ours = lines.opts.template.html(lines, False)
    theirs = render_to_string(
        "nesting/admin/inlines/stacked.html", {"inline_admin_formset": lines, "forloop": {}}
    )
    assert _markup(ours) == _markup(theirs)

    # a draft saved with a negative tier price and a line without a model: shown again, with
    # each error on its row
    contract = draft_with_lines(3, users["manager"])
    form = posted_as_shown(contract)
    tiered = PricePhase.objects.filter(line__contract=contract, tiers__isnull=False).first()
    assert tiered is not None
    form[f"{prefix_of(form, TIER_ID, tiered.tiers.first().pk)}-unit_amount"] = "-1"
    form[f"{prefix_of(form, LINE_ID, contract.lines.first().pk)}-pricing_model"] = ""
    response = client.post(change_url(contract), form)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="id_lines-0-pricing_model_error"><li>This field is required.' in page
    assert "An amount cannot be negative." in page
    _assert_drawn_as_nested_admin_draws(response)


def _label_form(renderer):
    class PriceForm(forms.Form):
        price = forms.DecimalField(label='Price <net> & "gross"')
        seats = forms.IntegerField(required=False)

    return PriceForm(renderer=renderer)


@pytest.mark.parametrize(
    ("widget", "value"),
    [
        (forms.TextInput(attrs={"class": "vTextField", "maxlength": 40}), "seats & <more>"),
        (forms.TextInput(attrs={"data-note": "\"quoted\" 'single'"}), None),
        (forms.NumberInput(attrs={"step": "0.000001"}), Decimal("12.500000")),
        (forms.HiddenInput(), 42),
        (forms.CheckboxInput(), True),
        (forms.CheckboxInput(), False),
        (forms.DateInput(), date(2027, 1, 1)),
        (AdminDateWidget(), date(2027, 1, 1)),
        (AdminDateWidget(), None),
        (forms.Select(choices=[("", "---"), ("flat", "Flat <fee>"), ("tiered", "Tiered")]), "flat"),
        (forms.Select(choices=[("Models", [("flat", "Flat")])]), "flat"),
    ],
)
def test_the_page_writes_plain_widgets_as_djangos_templates_write_them(widget, value):
    attrs = {"id": "id_lines-0-x", "required": True, "disabled": False}
    ours = widget.render("lines-0-x", value, attrs=attrs, renderer=PlainInputsRenderer())
    theirs = widget.render("lines-0-x", value, attrs=attrs, renderer=DjangoTemplates())
    assert ours == theirs


def test_the_page_writes_labels_and_error_lists_as_djangos_templates_write_them():
    ours, theirs = _label_form(PlainInputsRenderer()), _label_form(DjangoTemplates())
    for name in ("price", "seats"):
        assert ours[name].label_tag() == theirs[name].label_tag()
        assert ours[name].label_tag(attrs={"class": "required"}) == theirs[name].label_tag(
            attrs={"class": "required"}
        )
    for errors in ([], ["Enter a number.", "<b>Too</b> large"]):
        assert str(ErrorList(errors, renderer=PlainInputsRenderer())) == str(
            ErrorList(errors, renderer=DjangoTemplates())
        )
        assert (
            ErrorList(errors, renderer=PlainInputsRenderer()).as_ul()
            == ErrorList(errors, renderer=DjangoTemplates()).as_ul()
        )
