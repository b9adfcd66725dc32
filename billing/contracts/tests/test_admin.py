"""The contract screens as account managers and finance use them."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import User
from billing.contracts.models import Contract
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.contract_form import contract_form
from billing.contracts.tests.factories import CatalogItemFactory, seats_contract
from billing.pricing import add_months
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
ADD = reverse("admin:billing_contract_add")


def change_url(contract):
    return reverse("admin:billing_contract_change", args=[contract.pk])


def transition_url(contract, name):
    return reverse("admin:billing_contract_transition", args=[contract.pk, name])


@pytest.fixture
def users(demo_logins):
    return {name: User.objects.get(username=name) for name in demo_logins}


def client_for(client_class, username, demo_logins):
    client = client_class()
    assert client.login(username=username, password=demo_logins[username])
    return client


@pytest.fixture
def manager_client(client, demo_logins):
    assert client.login(username="manager", password=demo_logins["manager"])
    return client


@pytest.fixture
def finance_client(demo_logins):
    from django.test import Client

    return client_for(Client, "finance", demo_logins)


def ramped_tiered_lines(seats, platform, start, year2):
    return [
        {
            "key": "seats",
            "item": seats.pk,
            "pricing_model": "graduated",
            "phases": [
                {
                    "start_date": start,
                    "end_date": year2 - timezone.timedelta(days=1),
                    "quantity": 150,
                    "tiers": [{"up_to": 100, "unit_amount": "10.00"}, {"unit_amount": "8.00"}],
                },
                {
                    "start_date": year2,
                    "quantity": 150,
                    "tiers": [{"up_to": 100, "unit_amount": "9.00"}, {"unit_amount": "7.00"}],
                },
            ],
        },
        {
            "key": "platform",
            "item": platform.pk,
            "pricing_model": "flat",
            "phases": [{"flat_amount": "1000.00"}],
        },
    ]


def test_manager_creates_a_ramped_tiered_contract_and_finance_approves_it(
    manager_client, finance_client, users
):
    # given an account manager's customer and two catalog items
    account = AccountFactory(account_manager=users["manager"])
    seats = CatalogItemFactory(code="seats", name="Seats")
    platform = CatalogItemFactory(code="platform", name="Platform fee")
    start = timezone.localdate().replace(day=1)
    year2, end = add_months(start, 12), add_months(start, 36) - timezone.timedelta(days=1)

    # when the manager fills in the contract page
    response = manager_client.post(
        ADD,
        contract_form(
            ramped_tiered_lines(seats, platform, start, year2),
            account=account.pk,
            start_date=start,
            end_date=end,
        ),
    )

    # then a numbered draft exists with its lines, ramp and tiers, and what it is worth
    assert response.status_code == 302, _errors(response)
    contract = Contract.objects.get()
    assert contract.number == f"C-{start.year}-00001"
    assert (contract.status, contract.created_by) == (Contract.Status.DRAFT, users["manager"])
    assert [line.key for line in contract.lines.all()] == ["seats", "platform"]
    # year 1: 100 x 10 + 50 x 8 + 1,000 = 2,400 a month; years 2-3: 100 x 9 + 50 x 7 + 1,000
    assert contract.annual_contract_value == Decimal("28800")
    assert contract.total_contract_value == Decimal("28800") + 24 * Decimal("2250")

    # when the manager submits it
    response = manager_client.post(transition_url(contract, "submit"))
    assert response.status_code == 302, [str(m) for m in response.context["messages"]]
    contract.refresh_from_db()
    assert contract.status == Contract.Status.PENDING_APPROVAL
    # the manager has no approve button and cannot approve
    page = manager_client.get(change_url(contract)).content.decode()
    assert "Approve</a>" not in page
    assert manager_client.post(transition_url(contract, "approve")).status_code == 403

    # then finance sees the expected charges of the next periods, and approves
    page = finance_client.get(change_url(contract)).content.decode()
    assert "Approve</a>" in page
    assert page.count(", total</th><th style='text-align:right'>2,400.00 EUR</th>") == 4
    assert finance_client.post(transition_url(contract, "approve")).status_code == 302
    contract.refresh_from_db()
    assert (contract.status, contract.approved_by) == (Contract.Status.ACTIVE, users["finance"])


def test_tiers_out_of_order_are_refused_on_the_form_and_nothing_is_saved(manager_client, users):
    account = AccountFactory(account_manager=users["manager"])
    seats = CatalogItemFactory(code="seats")
    lines = [
        {
            "key": "seats",
            "item": seats.pk,
            "pricing_model": "volume",
            "phases": [
                {
                    "quantity": 10,
                    "tiers": [
                        {"up_to": 500, "unit_amount": "10"},
                        {"up_to": 100, "unit_amount": "9"},
                        {"unit_amount": "8"},
                    ],
                }
            ],
        }
    ]
    response = manager_client.post(ADD, contract_form(lines, account=account.pk))
    assert response.status_code == 200
    assert (
        "Line seats, phase 1: tier 2: &#x27;up to&#x27; (100) must be greater than the tier "
        "before&#x27;s (500)" in response.content.decode()
    )
    assert not Contract.objects.exists()


def test_each_price_error_is_shown_on_its_line_phase_or_tier_and_field(manager_client, users):
    # given a JPY contract whose seat ramp has a gap before a phase priced with decimals, a
    # volume line whose second tier goes down, and a usage line without its metric
    account = AccountFactory(account_manager=users["manager"], default_currency="JPY")
    lines = [
        {
            "key": "seats",
            "item": CatalogItemFactory(code="seats").pk,
            "pricing_model": "per_unit",
            "phases": [
                {"end_date": "2026-12-31", "quantity": 10, "unit_amount": "1000"},
                {"start_date": "2027-02-01", "quantity": 10, "unit_amount": "900.5"},
            ],
        },
        {
            "key": "storage",
            "item": CatalogItemFactory(code="storage").pk,
            "pricing_model": "volume",
            "phases": [
                {
                    "quantity": 1,
                    "tiers": [
                        {"up_to": 500, "unit_amount": "10"},
                        {"up_to": 100, "unit_amount": "9"},
                        {"unit_amount": "8"},
                    ],
                }
            ],
        },
        {"key": "api", "item": CatalogItemFactory(code="api").pk, "pricing_model": "usage"},
    ]
    lines[2]["phases"] = [{"unit_amount": "1"}]

    response = manager_client.post(ADD, contract_form(lines, account=account.pk, currency="JPY"))

    # then nothing is saved, and each message is on the row and field it is about
    assert response.status_code == 200
    assert not Contract.objects.exists()
    formset = response.context["inline_admin_formsets"][0].formset
    assert list(formset.non_form_errors()) == []
    seats, storage, api = formset.forms
    ramp = seats.nested_formsets[0].forms
    assert ramp[0].errors == {}
    assert ramp[1].errors["start_date"] == [
        "Line seats, gap between phase 1 (ends 2026-12-31) and phase 2 (starts 2027-02-01): a "
        "ramp's phases follow each other day after day."
    ]
    assert ramp[1].errors["unit_amount"] == [
        "Line seats, phase 2: unit amount 900.5 has too many decimals: JPY amounts have no "
        "decimals."
    ]
    tiers = storage.nested_formsets[0].forms[0].nested_formsets[0].forms
    assert [sorted(tier.errors) for tier in tiers] == [[], ["up_to"], []]
    assert api.errors["metric"] == [
        "Line api, a usage-based line needs its usage metric (e.g. api_calls)."
    ]
    # and the page shows each under its field
    page = response.content.decode()
    assert 'id="id_lines-0-phases-1-unit_amount_error"' in page
    assert 'id="id_lines-1-phases-0-tiers-1-up_to_error"' in page
    assert 'id="id_lines-2-metric_error"' in page


def test_a_negative_tier_price_is_refused_on_its_field_in_words(manager_client, users):
    account = AccountFactory(account_manager=users["manager"])
    lines = [
        {
            "key": "api",
            "item": CatalogItemFactory(code="api").pk,
            "pricing_model": "graduated",
            "metric": "api_calls",
            "phases": [{"tiers": [{"up_to": 1000, "unit_amount": "-0.01"}, {}]}],
        }
    ]

    response = manager_client.post(ADD, contract_form(lines, account=account.pk))

    tier = response.context["inline_admin_formsets"][0].formset.forms[0]
    tier = tier.nested_formsets[0].forms[0].nested_formsets[0].forms[0]
    assert tier.errors == {"unit_amount": ["An amount cannot be negative."]}
    assert "tier_amounts_not_negative" not in response.content.decode()
    assert not Contract.objects.exists()


def test_yen_prices_with_decimals_are_refused_naming_the_field(manager_client, users):
    account = AccountFactory(account_manager=users["manager"], default_currency="JPY")
    seats = CatalogItemFactory(code="seats")
    lines = [
        {
            "key": "seats",
            "item": seats.pk,
            "pricing_model": "per_unit",
            "phases": [{"quantity": 10, "unit_amount": "1234.5"}],
        }
    ]
    response = manager_client.post(ADD, contract_form(lines, account=account.pk, currency="JPY"))
    assert response.status_code == 200
    assert (
        "Line seats, phase 1: unit amount 1234.5 has too many decimals: JPY amounts "
        "have no decimals."
    ) in response.content.decode()
    assert not Contract.objects.exists()


def test_a_new_contract_left_without_currency_is_in_its_accounts_currency(manager_client, users):
    account = AccountFactory(account_manager=users["manager"], default_currency="JPY")
    lines = [
        {
            "key": "seats",
            "item": CatalogItemFactory(code="seats").pk,
            "pricing_model": "per_unit",
            "phases": [{"quantity": 10, "unit_amount": "4000"}],
        }
    ]

    response = manager_client.post(ADD, contract_form(lines, account=account.pk, currency=""))

    assert response.status_code == 302, _errors(response)
    assert Contract.objects.get().currency == "JPY"


def test_the_new_contract_page_reads_the_currency_of_the_account_picked(
    manager_client, client, demo_logins, users
):
    own = AccountFactory(account_manager=users["manager"], default_currency="CHF")
    others = AccountFactory(account_manager=users["manager2"], default_currency="JPY")

    def currency_url(account):
        return reverse("admin:billing_contract_account_currency", args=[account.pk])

    assert manager_client.get(currency_url(own)).json() == {"currency": "CHF"}
    # another manager's account is not theirs to write a contract for
    assert manager_client.get(currency_url(others)).status_code == 404
    # and the page takes it from there (billing/contract_form.js, loaded on the page)
    assert "billing/contract_form.js" in manager_client.get(ADD).content.decode()


def test_end_before_start_is_refused_on_the_field(manager_client, users):
    account = AccountFactory(account_manager=users["manager"])
    response = manager_client.post(
        ADD, contract_form([], account=account.pk, start_date="2026-05-01", end_date="2026-04-01")
    )
    assert "The contract ends 2026-04-01, before it starts 2026-05-01." in response.content.decode()
    assert not Contract.objects.exists()


def existing_form(contract, **changes):
    line = contract.lines.get()
    phase = line.phases.get()
    lines = [
        {
            "id": line.pk,
            "key": line.key,
            "item": line.item_id,
            "pricing_model": line.pricing_model,
            "phases": [
                {"id": phase.pk, "quantity": phase.quantity, "unit_amount": phase.unit_amount}
            ],
        }
    ]
    return contract_form(
        lines, account=contract.account_id, lock_version_seen=contract.lock_version, **changes
    )


def test_second_of_two_simultaneous_saves_gets_a_conflict_and_loses_nothing(
    manager_client, finance_client, users
):
    # given a draft both people have open
    contract = seats_contract(
        account=AccountFactory(account_manager=users["manager"]), created_by=users["manager"]
    )
    finance_form = existing_form(contract, po_number="PO-FINANCE")
    manager_form = existing_form(contract, po_number="PO-MANAGER")

    # when finance saves first, then the manager
    assert finance_client.post(change_url(contract), finance_form).status_code == 302
    response = manager_client.post(change_url(contract), manager_form)

    # then the manager is told, and finance's change stands
    assert response.status_code == 200
    assert "finance changed this contract at" in response.content.decode()
    contract.refresh_from_db()
    assert contract.po_number == "PO-FINANCE"


@pytest.mark.parametrize("seen", [None, "", "not-a-number"])
def test_a_save_without_the_version_seen_is_refused_and_nothing_is_saved(
    manager_client, users, seen
):
    # given a draft, and its page posted without the version it was opened at
    contract = seats_contract(
        account=AccountFactory(account_manager=users["manager"]), created_by=users["manager"]
    )
    before = contract.lock_version
    form = existing_form(contract, po_number="PO-NO-VERSION")
    if seen is None:
        del form["lock_version_seen"]  # the field left out of the POST
    else:
        form["lock_version_seen"] = seen

    # when
    response = manager_client.post(change_url(contract), form)

    # then refused, as a stale version is, and nothing saved
    assert response.status_code == 200
    assert (
        "This page was sent without the version of the contract it was opened at"
        in response.content.decode()
    )
    contract.refresh_from_db()
    assert contract.po_number != "PO-NO-VERSION"
    assert contract.lock_version == before


def test_managers_reach_only_their_own_accounts_contracts(client, demo_logins, users):
    mine = seats_contract(account=AccountFactory(account_manager=users["manager"]))
    theirs = seats_contract(account=AccountFactory(account_manager=users["manager2"]))
    client.login(username="manager", password=demo_logins["manager"])

    listing = client.get(reverse("admin:billing_contract_changelist")).content.decode()
    assert mine.number in listing
    assert theirs.number not in listing
    # change, history, delete and workflow pages of another's contract are not there
    assert client.get(change_url(theirs)).status_code == 302  # "doesn't exist" -> index
    history = reverse("admin:billing_contract_history", args=[theirs.pk])
    assert client.get(history).status_code in (302, 404)
    delete = reverse("admin:billing_contract_delete", args=[theirs.pk])
    assert client.get(delete).status_code == 302
    assert client.post(transition_url(theirs, "submit")).status_code == 404
    # nor can a contract be created for another manager's account
    response = client.post(ADD, contract_form([], account=theirs.account_id))
    assert "Select a valid choice" in response.content.decode()


def test_active_contracts_are_read_only(finance_client, users):
    contract = seats_contract(created_by=users["manager"])
    contract_submit(contract=contract, by=users["admin"])
    contract_approve(contract=contract, by=users["finance"])
    page = finance_client.get(change_url(contract)).content.decode()
    assert 'name="_save"' not in page
    assert "Amend</a>" in page
    response = finance_client.post(change_url(contract), existing_form(contract, po_number="X"))
    assert response.status_code == 403


def test_send_back_asks_for_a_reason(finance_client, users):
    contract = seats_contract(created_by=users["manager"])
    contract_submit(contract=contract, by=users["admin"])
    response = finance_client.post(transition_url(contract, "send_back"), {"reason": ""})
    assert "Say why the contract goes back" in response.content.decode()
    finance_client.post(transition_url(contract, "send_back"), {"reason": "Wrong PO"})
    contract.refresh_from_db()
    assert (contract.status, contract.sent_back_reason) == (Contract.Status.DRAFT, "Wrong PO")


def test_amend_from_the_contract_page(manager_client, users):
    contract = seats_contract(
        account=AccountFactory(account_manager=users["manager"]), created_by=users["manager"]
    )
    contract_submit(contract=contract, by=users["manager"])
    contract_approve(contract=contract, by=users["finance"])
    response = manager_client.post(
        transition_url(contract, "amend"), {"effective_date": "2027-01-01"}
    )
    amendment = Contract.objects.get(version=2)
    assert response["Location"] == change_url(amendment)
    assert (amendment.effective_date, amendment.status) == (date(2027, 1, 1), "draft")


def test_contract_list_query_budget_does_not_grow_with_rows(
    finance_client, django_assert_max_num_queries
):
    for _ in range(30):
        seats_contract()
    with django_assert_max_num_queries(12):
        response = finance_client.get(reverse("admin:billing_contract_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("days", ["30", "60", "90"])
def test_ending_soon_filter(finance_client, users, days):
    today = timezone.localdate()
    soon = seats_contract(start_date=date(2025, 1, 1), end_date=today + timezone.timedelta(days=25))
    later = seats_contract(
        start_date=date(2025, 1, 1), end_date=today + timezone.timedelta(days=200)
    )
    for c in (soon, later):
        contract_submit(contract=c, by=users["admin"])
        contract_approve(contract=c, by=users["finance"])
    page = finance_client.get(
        reverse("admin:billing_contract_changelist"), {"ends_within": days}
    ).content.decode()
    assert soon.number in page
    assert later.number not in page


def _errors(response) -> str:
    """The form's and every inline's errors, for a readable failure."""
    context = response.context
    found = [str(context["adminform"].form.errors)]

    def descend(formset):
        found.append(f"{formset.prefix}: {formset.non_form_errors()}")
        for form in formset.forms:
            found.append(f"{form.prefix}: {form.errors}")
            for nested in getattr(form, "nested_formsets", []):
                descend(nested)

    for inline in context["inline_admin_formsets"]:
        descend(inline.formset)
    import re

    html = response.content.decode()
    found += re.findall(r'<ul class="errorlist[^"]*"[^>]*>.*?</ul>', html, re.S)
    found += re.findall(r'<p class="errornote">.*?</p>', html, re.S)
    return "\n".join(line for line in found if not line.endswith(": "))


def test_changes_to_lines_and_prices_show_in_the_contracts_change_log(
    manager_client, finance_client, users
):
    # given a draft whose seat count the manager changes on the contract page
    contract = seats_contract(
        account=AccountFactory(account_manager=users["manager"]), created_by=users["manager"]
    )
    form = existing_form(contract)
    phase_quantity = next(k for k in form if k.endswith("phases-0-quantity"))
    form[phase_quantity] = "150"
    assert manager_client.post(change_url(contract), form).status_code == 302

    # then finance reads who changed what on the contract page
    page = finance_client.get(change_url(contract)).content.decode()
    log = page[page.lower().index("who changed what") :]
    assert "manager" in log
    assert "Line line-" in log
    assert "quantity: 100 → 150" in log


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"billing_anchor_date": "2030-01-01"}, "The billing anchor falls within the term."),
        ({"auto_renew": "on"}, "A contract that renews needs its renewal term."),
        ({"payment_terms_days": "20"}, "Select a valid choice. 20 is not one of the available"),
        ({"currency": "XYZ"}, "Select a valid choice. XYZ is not one of the available"),
        ({"billing_frequency": "2"}, "Select a valid choice. 2 is not one of the available"),
        ({"start_date": "2026-02-30"}, "Enter a valid date."),
    ],
)
def test_contract_terms_are_checked_on_the_form(manager_client, users, changes, message):
    account = AccountFactory(account_manager=users["manager"])
    response = manager_client.post(ADD, contract_form([], account=account.pk, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Contract.objects.exists()


def test_a_line_shows_its_discount_against_the_list_price(finance_client, users):
    from billing.catalog.models import ListPrice

    contract = seats_contract(created_by=users["manager"])  # 20.00 EUR a seat
    ListPrice.objects.create(
        item=contract.lines.get().item, currency="EUR", unit_amount=Decimal("25.00")
    )
    page = finance_client.get(change_url(contract)).content.decode()
    assert "25.00 EUR per unit; contract price 20.00 EUR: 20.0% off" in page

    # priced above the list, it says so rather than "-25.0% off"
    ListPrice.objects.filter(item=contract.lines.get().item).update(unit_amount=Decimal("16.00"))
    page = finance_client.get(change_url(contract)).content.decode()
    assert "16.00 EUR per unit; contract price 20.00 EUR: 25.0% above list" in page


def test_drafts_can_be_deleted_active_contracts_cannot(manager_client, users):
    account = AccountFactory(account_manager=users["manager"])
    draft = seats_contract(account=account, created_by=users["manager"])
    active = seats_contract(account=account, created_by=users["manager"])
    contract_submit(contract=active, by=users["manager"])
    contract_approve(contract=active, by=users["finance"])

    delete = reverse("admin:billing_contract_delete", args=[active.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    delete = reverse("admin:billing_contract_delete", args=[draft.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 302
    assert list(Contract.objects.all()) == [active]


def test_catalog_list_query_budget(finance_client, django_assert_max_num_queries):
    for n in range(30):
        CatalogItemFactory(code=f"bench-{n}")
    with django_assert_max_num_queries(8):
        response = finance_client.get(reverse("admin:billing_catalogitem_changelist"))
    assert response.status_code == 200


def test_rows_can_be_selected_for_an_action(finance_client):
    contracts = [seats_contract(), seats_contract()]
    page = finance_client.get(reverse("admin:billing_contract_changelist")).content.decode()
    for contract in contracts:
        assert (
            f'<input type="checkbox" name="_selected_action" value="{contract.pk}" '
            f'class="action-select" aria-label="Select this object for an action - {contract}">'
        ) in page
    assert 'id="action-toggle"' in page


def test_an_amendments_effective_date_stays_within_the_term(manager_client, users):
    contract = seats_contract(
        account=AccountFactory(account_manager=users["manager"]), created_by=users["manager"]
    )
    contract_submit(contract=contract, by=users["manager"])
    contract_approve(contract=contract, by=users["finance"])
    manager_client.post(transition_url(contract, "amend"), {"effective_date": "2027-01-01"})
    amendment = Contract.objects.get(version=2)
    response = manager_client.post(
        change_url(amendment), existing_form(amendment, effective_date="2030-01-01")
    )
    assert "The amendment takes effect after 2026-01-01 and by 2028-12-31." in (
        response.content.decode()
    )
    amendment.refresh_from_db()
    assert amendment.effective_date == date(2027, 1, 1)


def test_every_version_of_a_contract_is_listed_on_its_page(finance_client, users):
    contract = seats_contract(created_by=users["manager"])
    contract_submit(contract=contract, by=users["admin"])
    contract_approve(contract=contract, by=users["finance"])
    from billing.contracts.services import contract_amend

    amendment = contract_amend(
        contract=contract, by=users["admin"], effective_date=date(2027, 1, 1)
    )
    contract_submit(contract=amendment, by=users["admin"])
    contract_approve(contract=amendment, by=users["finance"])

    page = finance_client.get(change_url(contract)).content.decode()
    assert f"{contract} (this page): superseded by an amendment, in force from 2026-01-01" in page
    assert (
        f'<a href="{change_url(amendment)}">{amendment}</a>: active, in force from 2027-01-01'
        in (page)
    )


@pytest.mark.parametrize("pricing_model", ["graduated", "volume"])
def test_a_tiered_usage_line_priced_for_the_whole_term_is_saved_with_its_tiers(
    manager_client, users, pricing_model
):
    # given a tiered usage line entered as the README says: one phase with blank dates (left at
    # its defaults) and the tiers under it
    account = AccountFactory(account_manager=users["manager"])
    api = CatalogItemFactory(code="api", name="API calls")
    lines = [
        {
            "key": "api",
            "item": api.pk,
            "pricing_model": pricing_model,
            "metric": "api_calls",
            "phases": [
                {
                    "tiers": [
                        {"up_to": 1000, "unit_amount": "0.05"},
                        {"unit_amount": "0.03", "flat_amount": "10"},
                    ]
                }
            ],
        }
    ]

    # when the manager saves the new contract, then edits the draft and saves it again
    response = manager_client.post(ADD, contract_form(lines, account=account.pk))
    assert response.status_code == 302, _errors(response)
    contract = Contract.objects.get()
    line = contract.lines.get()
    phase = line.phases.get()
    assert (phase.start_date, phase.end_date, phase.quantity) == (None, None, 0)
    assert [(t.up_to, t.unit_amount, t.flat_amount) for t in phase.tiers.order_by("pk")] == [
        (1000, Decimal("0.05"), Decimal("0")),
        (None, Decimal("0.03"), Decimal("10")),
    ]

    # a draft's new line entered the same way is saved too
    second = CatalogItemFactory(code="sms", name="SMS")
    edit = [
        {**lines[0], "id": line.pk, "phases": [{**lines[0]["phases"][0], "tiers": []}]},
        {**lines[0], "key": "sms", "item": second.pk, "metric": "sms"},
    ]
    data = contract_form(edit, account=account.pk, lock_version_seen=contract.lock_version)
    # the first line's phase and tiers are already saved: post them as the page holds them
    data.update(_saved_phase_fields("lines-0-phases", phase))
    response = manager_client.post(change_url(contract), data)
    assert response.status_code == 302, _errors(response)
    sms = contract.lines.get(key="sms").phases.get()
    assert sms.tiers.count() == 2


def _saved_phase_fields(prefix, phase):
    data = {
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "1",
        f"{prefix}-0-id": str(phase.pk),
        f"{prefix}-0-line": str(phase.line_id),
        f"{prefix}-0-start_date": "",
        f"{prefix}-0-end_date": "",
        f"{prefix}-0-quantity": "0",
        f"{prefix}-0-unit_amount": "0",
        f"{prefix}-0-flat_amount": "0",
        f"{prefix}-0-included_units": "0",
    }
    tiers = list(phase.tiers.order_by("pk"))
    data.update(
        {
            f"{prefix}-0-tiers-TOTAL_FORMS": str(len(tiers)),
            f"{prefix}-0-tiers-INITIAL_FORMS": str(len(tiers)),
        }
    )
    for k, tier in enumerate(tiers):
        data.update(
            {
                f"{prefix}-0-tiers-{k}-id": str(tier.pk),
                f"{prefix}-0-tiers-{k}-phase": str(phase.pk),
                f"{prefix}-0-tiers-{k}-up_to": "" if tier.up_to is None else str(tier.up_to),
                f"{prefix}-0-tiers-{k}-unit_amount": str(tier.unit_amount),
                f"{prefix}-0-tiers-{k}-flat_amount": str(tier.flat_amount),
            }
        )
    return data


def test_the_confirmation_page_shows_the_annual_value_as_money_of_the_contract(
    manager_client, users
):
    # a yen contract: 10 seats at 5,000 JPY a month is 600,000 JPY a year, with no decimals
    from billing.contracts.services import contract_values_refresh
    from billing.contracts.tests.factories import (
        ContractFactory,
        ContractLineFactory,
        PricePhaseFactory,
    )

    account = AccountFactory(account_manager=users["manager"], default_currency="JPY")
    contract = ContractFactory(account=account, currency="JPY")
    line = ContractLineFactory(contract=contract)
    PricePhaseFactory(line=line, unit_amount=Decimal("5000"), quantity=10)
    contract_values_refresh(contract)

    page = manager_client.get(transition_url(contract, "submit")).content.decode()

    assert "annual value 600,000 JPY." in page
    assert "600000.000" not in page


def test_a_new_contract_starts_from_its_account_page_in_the_accounts_currency(
    manager_client, users
):
    account = AccountFactory(account_manager=users["manager"], default_currency="JPY")
    account_page = reverse("admin:customers_account_change", args=[account.pk])

    page = manager_client.get(account_page).content.decode()
    link = re.search(r'<a class="addlink" href="([^"]+)">New contract for', page)
    assert link, page
    form = manager_client.get(link.group(1).replace("&amp;", "&")).context["adminform"].form
    assert str(form["account"].value()) == str(account.pk)
    assert form["currency"].value() == "JPY"
