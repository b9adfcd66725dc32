"""Journeys through the real forms, in the browser, on the demo data: finance imports a contract
and its lines file (preview, then confirm); an account manager imports one, submits it for
approval, and finance approves it; an account manager enters a contract on the contract page's
nested form (the account and items chosen in their search boxes, a seat ramp, a graduated usage
line with its tiers, each row added with nested-admin's "Add another" links), submits it, and
finance approves it; finance opens the invoice review queue, filters it to the clean drafts and
approves them with the queue's action (its confirmation page first), the flagged ones left for a
person; finance and a manager read the reports; finance works the Payments section (a retry, the
Radar queue, a dispute's draft answer) while a manager sees only their own. Each page on the way
is checked like the crawl's (browser_tests/pages.py); each journey's last page is kept as a
screenshot (journey-*.png in the artifacts).
"""

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from backoffice.models import User
from billing.contracts.models import Contract
from billing.invoices.models import InvoiceReview
from billing.invoices.selectors import AWAITING_DECISION, approval_limit
from browser_tests.pages import AdminBrowser, problems_report
from customers.models import Account
from payments.models import DisputeEvidence, PaymentRetry

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Seconds to wait for a page or a widget: the machine running CI may be busy.
WAIT = 120


def _files(folder: Path, number: str) -> tuple[Path, Path]:
    """A contract of a demo account of `manager` (Bergmann Logistik, EUR), then its lines: a
    three-year seat ramp and a graduated usage line, as a CRM writes them (semicolons, decimal
    commas, Windows-1252)."""
    contracts = (
        "number;account;currency;start_date;end_date;signed_date;auto_renew;"
        "renewal_term_months;billing_frequency;collection_method;payment_terms_days;po_number;"
        "notes\n"
        f"{number};CRM-0002;EUR;2027-01-01;2029-12-31;2026-11-20;yes;12;Monthly;send_invoice;"
        "Net 30;PO-7501;Größe L, imported in the browser test\n"
    )
    lines = (
        "contract;line;item;description;pricing_model;metric;phase_start;phase_end;quantity;"
        "unit_amount;flat_amount;included_units;tiers\n"
        f"{number};seats;seats;Seats;per_unit;;2027-01-01;2027-12-31;50;30,00;0;0;\n"
        f"{number};seats;;;;;2028-01-01;2028-12-31;80;27,50;0;0;\n"
        f"{number};seats;;;;;2029-01-01;2029-12-31;120;25,10;0;0;\n"
        f"{number};api;api-calls;API;graduated;api_calls;;;0;0;0;0;"
        '"1-1000000: 0,002 + 100 flat; 1000001-: 0,001"\n'
    )
    paths = folder / "crm-contracts.csv", folder / "crm-lines.csv"
    paths[0].write_text(contracts, encoding="cp1252")
    paths[1].write_text(lines, encoding="cp1252")
    return paths


def _import(browser: AdminBrowser, resource: str, path: Path, rows: int) -> None:
    """Upload, read the preview, confirm; lands on the contract list."""
    driver = browser.driver
    browser.visit("/admin/billing/contract/import/")  # django-import-export's import page
    Select(driver.find_element(By.ID, "id_resource")).select_by_visible_text(resource)
    driver.find_element(By.CSS_SELECTOR, "input[type=file][name=import_file]").send_keys(str(path))
    Select(driver.find_element(By.ID, "id_format")).select_by_visible_text("csv")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit][value=Preview]").click()
    WebDriverWait(driver, 120).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#import-preview, .errornote")
    )
    browser.check_current()
    preview = driver.find_element(By.ID, "import-preview").text
    assert not driver.find_elements(By.CSS_SELECTOR, "#import-preview .errornote"), preview
    assert len(driver.find_elements(By.CSS_SELECTOR, "#import-preview tbody tr.import-new")) == (
        rows
    ), preview
    driver.find_element(By.CSS_SELECTOR, "input[name=confirm]").click()
    WebDriverWait(driver, 120).until(lambda d: "/import/" not in d.current_url)
    browser.check_current()
    message = driver.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert message, driver.page_source[:2000]


def _open_contract(browser: AdminBrowser, number: str) -> None:
    """From the contract list's search, as a person would."""
    browser.visit(f"/admin/billing/contract/?q={number}")
    browser.driver.find_element(By.LINK_TEXT, number).click()
    browser.check_current()
    assert number in browser.driver.find_element(By.ID, "content").text


def _transition(browser: AdminBrowser, name: str, label: str) -> str:
    """A workflow button of the contract's page (`name`: submit, approve...), then its
    confirmation page's button (`label`); returns the message it lands on."""
    driver = browser.driver
    driver.find_element(By.CSS_SELECTOR, f".object-tools a[href$='/transition/{name}/']").click()
    browser.check_current()
    driver.find_element(By.CSS_SELECTOR, f"form input[type=submit][value='{label}']").click()
    WebDriverWait(driver, 120).until(lambda d: "/transition/" not in d.current_url)
    browser.check_current()
    return str(driver.find_element(By.CSS_SELECTOR, ".messagelist").text)


def test_finance_imports_a_contract_and_its_lines_previews_and_confirms(
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    number = "C-2026-07501"
    contracts, lines = _files(tmp_path, number)
    browser = AdminBrowser(driver, demo_site, "finance", server_errors, artifacts)

    browser.login("finance", demo_logins["finance"])
    _import(browser, "Contracts", contracts, rows=1)
    _import(browser, "Contract lines", lines, rows=4)

    contract = Contract.objects.get(number=number)
    assert contract.lines.count() == 2
    ramp = contract.lines.get(key="seats").phases.order_by("start_date")
    assert [str(phase.start_date) for phase in ramp] == ["2027-01-01", "2028-01-01", "2029-01-01"]
    _open_contract(browser, number)  # what was imported, on the contract's page
    browser.screenshot("journey-finance-imports-contract-lines")
    if browser.problems:
        pytest.fail(problems_report(browser.problems), pytrace=False)


def test_an_account_manager_submits_a_contract_and_finance_approves_it(
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    number = "C-2026-07502"
    contracts, lines = _files(tmp_path, number)
    manager = AdminBrowser(driver, demo_site, "manager", server_errors, artifacts)
    manager.login("manager", demo_logins["manager"])
    _import(manager, "Contracts", contracts, rows=1)
    _import(manager, "Contract lines", lines, rows=4)
    _open_contract(manager, number)

    message = _transition(manager, "submit", "Submit for approval")

    assert "pending approval" in message.lower(), message
    driver.delete_all_cookies()
    finance = AdminBrowser(driver, demo_site, "finance", server_errors, artifacts)
    finance.login("finance", demo_logins["finance"])
    _open_contract(finance, number)

    message = _transition(finance, "approve", "Approve")

    assert Contract.objects.get(number=number).status == Contract.Status.ACTIVE, message
    finance.screenshot("journey-contract-submitted-and-approved")
    problems = manager.problems + finance.problems
    if problems:
        pytest.fail(problems_report(problems), pytrace=False)


# --- Entering a contract on the contract page


def _type(driver: Any, element_id: str, text: str) -> None:
    """Into a text, date or number box, replacing what it holds (a number box's 0)."""
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def _pick(driver: Any, element_id: str, label: str) -> None:
    """An option of a plain drop-down, by the words it shows."""
    Select(driver.find_element(By.ID, element_id)).select_by_visible_text(label)


def _search_and_choose(driver: Any, select_id: str, typed: str, label: str) -> None:
    """The admin's search box (select2, autocomplete_fields): open it, type, click the result
    that reads `label`, as a person does; the results come from the server as one types."""
    box = f"#{select_id} + .select2 .select2-selection"
    driver.find_element(By.CSS_SELECTOR, box).click()
    search = WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".select2-container--open .select2-search__field")
    )
    search.send_keys(typed)

    def click_result(d: Any) -> bool:
        for option in d.find_elements(
            By.CSS_SELECTOR, ".select2-container--open .select2-results__option"
        ):
            if option.text.strip() == label:
                option.click()
                return True
        return False

    WebDriverWait(
        driver, WAIT, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(click_result)
    # The choice is the select's own option, as the form sends it.
    WebDriverWait(driver, WAIT, ignored_exceptions=(NoSuchElementException,)).until(
        lambda d: Select(d.find_element(By.ID, select_id)).first_selected_option.text == label
    )
    assert driver.find_element(By.ID, select_id).get_attribute("value"), f"{label} not chosen"


def _add_another(driver: Any, group: str, model: str, first_input: str) -> None:
    """nested-admin's "Add another ..." link of an inline (`group`: lines, lines-0-phases,
    lines-1-phases-0-tiers), then the new row's first box, once the script has drawn it."""
    links = [
        link
        for link in driver.find_elements(
            By.CSS_SELECTOR, f"#{group}-group a.djn-add-handler.djn-model-billing-{model}"
        )
        if link.is_displayed()
    ]
    assert len(links) == 1, f"{len(links)} 'Add another' links for {group}"
    links[0].click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, first_input).is_displayed())


def _fill(driver: Any, prefix: str, **values: str) -> None:
    """A row's boxes (`prefix`: lines-0-phases-1), each field given its text."""
    for field, text in values.items():
        _type(driver, f"id_{prefix}-{field}", text)


def _page_errors(driver: Any) -> str:
    """What the page shows in error: its error note and every field's error."""
    shown = driver.find_elements(By.CSS_SELECTOR, ".errornote, ul.errorlist")
    return "\n".join(element.text for element in shown if element.text.strip())


def _enter_contract(browser: AdminBrowser, number: str) -> None:
    """The add-contract page, filled in box by box as the account manager would, and saved
    ("Save and continue editing": it lands on the contract's page)."""
    driver = browser.driver
    browser.visit("/admin/billing/contract/add/")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Add contract"

    # Terms and billing
    _type(driver, "id_number", number)
    _search_and_choose(driver, "id_account", "Bergmann", "Bergmann Logistik GmbH")
    _type(driver, "id_signed_date", "2026-11-20")
    _type(driver, "id_start_date", "2027-01-01")
    _type(driver, "id_end_date", "2029-12-31")
    driver.find_element(By.ID, "id_auto_renew").click()
    _type(driver, "id_renewal_term_months", "12")
    _type(driver, "id_notice_period_days", "60")
    _pick(driver, "id_billing_frequency", "Monthly")
    _pick(driver, "id_collection_method", "Send invoice")
    _pick(driver, "id_payment_terms_days", "Net 45")
    # The currency was left blank: the page fills in the account's (billing/contract_form.js).
    WebDriverWait(driver, WAIT).until(
        lambda d: Select(d.find_element(By.ID, "id_currency")).first_selected_option.text == "EUR"
    )
    _type(driver, "id_po_number", "PO-7601")
    _type(driver, "id_notes", "Entered on the contract page in the browser test")

    # A seat line with a three-year ramp: a price phase a year, more seats, a lower price.
    _add_another(driver, "lines", "contractline", "id_lines-0-key")
    _search_and_choose(driver, "id_lines-0-item", "seat", "Seats")
    _type(driver, "id_lines-0-key", "seats")
    _pick(driver, "id_lines-0-pricing_model", "Per unit (seats)")
    _type(driver, "id_lines-0-description", "Seats, three-year ramp")
    # The line comes with one phase (min_num); the ramp's other years are added.
    ramp = (
        ("2027-01-01", "2027-12-31", "50", "30.00"),
        ("2028-01-01", "2028-12-31", "80", "27.50"),
        ("2029-01-01", "2029-12-31", "120", "25.10"),
    )
    for n, (start, end, quantity, unit) in enumerate(ramp):
        prefix = f"lines-0-phases-{n}"
        if n:
            _add_another(driver, "lines-0-phases", "pricephase", f"id_{prefix}-start_date")
        _fill(driver, prefix, start_date=start, end_date=end, quantity=quantity, unit_amount=unit)

    # A graduated usage line: one phase with blank dates (the whole term), two tiers under it.
    _add_another(driver, "lines", "contractline", "id_lines-1-key")
    _search_and_choose(driver, "id_lines-1-item", "API", "API calls")
    _type(driver, "id_lines-1-key", "api-calls")
    _pick(driver, "id_lines-1-pricing_model", "Tiered, graduated")
    _type(driver, "id_lines-1-metric", "api_calls")
    _type(driver, "id_lines-1-description", "API calls, graduated")
    phase = "lines-1-phases-0"
    assert driver.find_element(By.ID, f"id_{phase}-start_date").get_attribute("value") == ""
    assert driver.find_element(By.ID, f"id_{phase}-end_date").get_attribute("value") == ""
    tiers = (("1000000", "0.002", "100"), ("", "0.001", "0"))
    for n, (up_to, unit, flat) in enumerate(tiers):
        tier = f"{phase}-tiers-{n}"
        _add_another(driver, f"{phase}-tiers", "pricetier", f"id_{tier}-up_to")
        if up_to:
            _type(driver, f"id_{tier}-up_to", up_to)
        _fill(driver, tier, unit_amount=unit, flat_amount=flat)

    driver.find_element(By.CSS_SELECTOR, "#contract_form input[name=_continue]").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: "/change/" in d.current_url or d.find_elements(By.CSS_SELECTOR, ".errornote")
    )
    browser.check_current()
    errors = _page_errors(driver)
    assert not errors, f"The contract page refused the contract:\n{errors}"
    assert "/change/" in driver.current_url, driver.current_url
    message = driver.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert "was added successfully" in message, message


def _assert_contract_as_entered(number: str) -> Contract:
    contract = Contract.objects.select_related("account", "created_by").get(number=number)
    assert contract.status == Contract.Status.DRAFT
    assert contract.account.external_ref == "CRM-0002"
    assert contract.created_by is not None
    assert contract.created_by.username == "manager"
    assert (contract.signed_date, contract.start_date, contract.end_date) == (
        date(2026, 11, 20),
        date(2027, 1, 1),
        date(2029, 12, 31),
    )
    assert contract.auto_renew
    assert contract.renewal_term_months == 12
    assert contract.notice_period_days == 60
    assert contract.billing_frequency == Contract.BillingFrequency.MONTHLY
    assert contract.collection_method == Contract.CollectionMethod.SEND_INVOICE
    assert contract.payment_terms_days == 45
    assert (contract.currency, contract.po_number) == ("EUR", "PO-7601")
    assert contract.minimum_commit is None

    lines = {line.key: line for line in contract.lines.select_related("item")}
    assert sorted(lines) == ["api-calls", "seats"], sorted(lines)
    seats = lines["seats"]
    assert (seats.item.code, seats.pricing_model, seats.metric) == ("seats", "per_unit", "")
    ramp = [
        (p.start_date, p.end_date, p.quantity, p.unit_amount, p.flat_amount, p.tiers.count())
        for p in seats.phases.order_by("start_date")
    ]
    assert ramp == [
        (date(2027, 1, 1), date(2027, 12, 31), 50, Decimal("30.00"), Decimal(0), 0),
        (date(2028, 1, 1), date(2028, 12, 31), 80, Decimal("27.50"), Decimal(0), 0),
        (date(2029, 1, 1), date(2029, 12, 31), 120, Decimal("25.10"), Decimal(0), 0),
    ], ramp
    api = lines["api-calls"]
    assert (api.item.code, api.pricing_model, api.metric) == (
        "api-calls",
        "graduated",
        "api_calls",
    )
    phases = list(api.phases.all())
    assert [(p.start_date, p.end_date) for p in phases] == [(None, None)], phases
    tiers = [(t.up_to, t.unit_amount, t.flat_amount) for t in phases[0].tiers.all()]
    assert tiers == [
        (1_000_000, Decimal("0.002"), Decimal("100")),
        (None, Decimal("0.001"), Decimal(0)),
    ], tiers
    return contract


def test_an_account_manager_enters_a_contract_on_its_page_submits_it_and_finance_approves_it(
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
) -> None:
    number = "C-2027-07601"
    manager = AdminBrowser(driver, demo_site, "manager", server_errors, artifacts)
    manager.login("manager", demo_logins["manager"])

    _enter_contract(manager, number)

    _assert_contract_as_entered(number)
    workflow = driver.find_element(By.CSS_SELECTOR, ".field-workflow").text
    assert "To fix before submitting" not in workflow, workflow
    message = _transition(manager, "submit", "Submit for approval")
    assert "pending approval" in message.lower(), message
    assert Contract.objects.get(number=number).status == Contract.Status.PENDING_APPROVAL

    driver.delete_all_cookies()
    finance = AdminBrowser(driver, demo_site, "finance", server_errors, artifacts)
    finance.login("finance", demo_logins["finance"])
    _open_contract(finance, number)

    message = _transition(finance, "approve", "Approve")

    contract = Contract.objects.select_related("approved_by").get(number=number)
    assert contract.status == Contract.Status.ACTIVE, message
    assert contract.approved_by is not None
    assert contract.approved_by.username == "finance"
    assert "active" in message.lower(), message
    finance.screenshot("journey-contract-entered-submitted-approved")
    problems = manager.problems + finance.problems
    if problems:
        pytest.fail(problems_report(problems), pytrace=False)


# --- Working the invoice review queue


def _queue_rows(driver: Any) -> dict[str, str]:
    """The queue's rows as shown: invoice id -> status."""
    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"):
        invoice = row.find_element(By.CSS_SELECTOR, ".field-stripe_invoice_id").text.strip()
        rows[invoice] = row.find_element(By.CSS_SELECTOR, "td.field-status").text.strip()
    return rows


def _status_filter(browser: AdminBrowser, label: str) -> None:
    """A choice of the list's status filter, clicked; the list it opens is checked."""
    driver = browser.driver
    before = driver.current_url
    status = driver.find_element(By.CSS_SELECTOR, "#changelist-filter [data-filter-title=status]")
    status.find_element(By.LINK_TEXT, label).click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url != before)
    browser.check_current()
    chosen = _status_chosen(driver)
    assert chosen == label, chosen


def _status_chosen(driver: Any) -> str:
    """The status filter's choice the list is on."""
    return str(
        driver.find_element(
            By.CSS_SELECTOR, "#changelist-filter [data-filter-title=status] li.selected"
        ).text.strip()
    )


def _expected_after_approval(review: InvoiceReview) -> set[str]:
    """What approving a clean draft makes of it (README, Invoice review): above the currency's
    limit it awaits a second approver; otherwise it is approved, then finalized by a task once
    Stripe answers (no Stripe in these tests: it stays approved)."""
    limit = approval_limit(review.currency)
    above = limit.second_approver_above if limit else None
    if above is not None and review.amount > above:
        return {InvoiceReview.Status.AWAITING_SECOND}
    return {InvoiceReview.Status.APPROVED, InvoiceReview.Status.FINALIZED}


def test_finance_works_the_invoice_review_queue_and_approves_the_clean_drafts(
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
) -> None:
    before = {review.stripe_invoice_id: review for review in InvoiceReview.objects.all()}
    clean = {i for i, r in before.items() if r.status == InvoiceReview.Status.CLEAN}
    flagged = {i for i, r in before.items() if r.status == InvoiceReview.Status.FLAGGED}
    awaiting = {i for i, r in before.items() if r.status in AWAITING_DECISION}
    # The demo's queue (README, Invoice review): correct drafts and wrong ones, each flagged.
    assert clean, {r.status for r in before.values()}
    assert flagged, {r.status for r in before.values()}
    finance = AdminBrowser(driver, demo_site, "finance", server_errors, artifacts)
    finance.login("finance", demo_logins["finance"])

    # From the home page's screens: the queue opens on what needs a decision.
    driver.find_element(By.ID, "content-main").find_element(By.LINK_TEXT, "Invoice reviews").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#changelist-filter")
    )
    finance.check_current()
    assert finance.path() == "/admin/billing/invoicereview/", finance.path()
    assert _status_chosen(driver) == "Needs a decision"
    shown = _queue_rows(driver)
    assert set(shown) == awaiting, set(shown) ^ awaiting
    assert {shown[i] for i in clean} == {"Clean"}
    assert {shown[i] for i in flagged} == {"Flagged"}
    totals = driver.find_element(By.CSS_SELECTOR, "table.queue-totals").text
    assert "EUR" in totals, totals

    # The clean ones, all selected, and the queue's action for them.
    _status_filter(finance, "Clean")
    shown = _queue_rows(driver)
    assert set(shown) == clean, set(shown) ^ clean
    driver.find_element(By.ID, "action-toggle").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: all(box.is_selected() for box in d.find_elements(By.NAME, "_selected_action"))
    )
    actions = driver.find_element(By.CSS_SELECTOR, "#changelist-form .actions")
    Select(actions.find_element(By.NAME, "action")).select_by_visible_text(
        "Approve the selected clean drafts"
    )
    actions.find_element(By.CSS_SELECTOR, "button[name=index]").click()

    # What it will do, before it does it: every clean draft, nothing left aside.
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=submit][value^='Yes, approve']")
    )
    finance.check_current()
    content = driver.find_element(By.ID, "content").text
    assert f"{len(clean)} invoice(s) will be approved and finalized in Stripe" in content, content
    listed = {
        row.find_element(By.TAG_NAME, "td").text.strip()
        for row in driver.find_elements(By.CSS_SELECTOR, "#content form table tbody tr")
    }
    assert listed == clean, listed ^ clean
    assert "left as they are" not in content, content
    confirm = driver.find_element(By.CSS_SELECTOR, "input[type=submit][value^='Yes, approve']")
    assert confirm.get_attribute("value") == f"Yes, approve and finalize {len(clean)}"
    confirm.click()

    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success")
    )
    finance.check_current()
    message = driver.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    # "12 clean draft(s) approved; 0 not clean left for a person."
    assert message.startswith(f"{len(clean)} clean draft(s) approved; 0 not clean"), message
    assert not driver.find_elements(By.CSS_SELECTOR, ".messagelist .error")
    assert _queue_rows(driver) == {}, "approved drafts are no longer clean"

    # Back to what needs a decision: the flagged drafts wait for a person.
    _status_filter(finance, "Needs a decision")
    shown = _queue_rows(driver)
    finance_user = User.objects.get(username="finance")
    after = {review.stripe_invoice_id: review for review in InvoiceReview.objects.all()}
    for invoice in clean:
        review = after[invoice]
        assert review.status in _expected_after_approval(review), (invoice, review.status)
        assert review.approved_by_id == finance_user.pk, invoice
        assert review.approved_at is not None, invoice
    for invoice in set(before) - clean:
        assert after[invoice].status == before[invoice].status, invoice
        assert after[invoice].approved_by_id == before[invoice].approved_by_id, invoice
    still_waiting = {i for i, r in after.items() if r.status in AWAITING_DECISION}
    assert still_waiting == awaiting - clean | {
        i for i in clean if after[i].status == InvoiceReview.Status.AWAITING_SECOND
    }
    assert set(shown) == still_waiting, set(shown) ^ still_waiting
    assert flagged <= set(shown)
    finance.screenshot("journey-finance-works-review-queue")
    if finance.problems:
        pytest.fail(problems_report(finance.problems), pytrace=False)


def test_finance_exports_the_contracts_choosing_the_columns(
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
) -> None:
    """The library's export page: "Select all" unticks and ticks every column (its inline
    handler is bound by our script under the Content-Security-Policy), with no console error."""
    finance = AdminBrowser(driver, demo_site, "finance", server_errors, artifacts)
    finance.login("finance", demo_logins["finance"])
    finance.visit("/admin/billing/contract/export/")
    columns = 'input[type=checkbox][name*="_"]:not(.select-toggle)'

    def ticked() -> list[bool]:
        boxes = driver.find_elements(By.CSS_SELECTOR, f".selectable-field-export-row {columns}")
        return [box.is_selected() for box in boxes if box.is_displayed()]

    toggles = driver.find_elements(By.CSS_SELECTOR, "input.select-toggle")
    # each taken off its inline handler by file_imports/export_page.js
    assert toggles
    assert all(box.get_attribute("onchange") is None for box in toggles)
    toggle = next(box for box in toggles if box.is_displayed())
    assert ticked()
    assert all(ticked())
    toggle.click()
    WebDriverWait(driver, WAIT).until(lambda d: not any(ticked()))
    toggle.click()
    WebDriverWait(driver, WAIT).until(lambda d: all(ticked()))
    finance.check_current()  # the console too: a blocked handler would be logged there
    if finance.problems:
        pytest.fail(problems_report(finance.problems), pytrace=False)


def _chart_points(driver: Any) -> int:
    """The points Chart.js drew on the page's report chart (0: no chart drawn)."""
    return int(
        driver.execute_script(
            "var c = document.getElementById('report-chart');"
            "var chart = c && window.Chart && Chart.getChart(c);"
            "return chart ? chart.data.datasets.reduce(function (n, d) {"
            " return n + d.data.length; }, 0) : 0;"
        )
    )


def test_finance_and_an_account_manager_read_the_reports(
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
) -> None:
    """Finance opens the reports on the demo's year of billing: revenue with its chart drawn
    (Chart.js from our static files, under the Content-Security-Policy), aging with its chart,
    a bucket's figure opening the invoices behind it, billed fairly with its flags. An account
    manager's reports name none of another manager's customers."""
    finance = AdminBrowser(driver, demo_site, "finance", server_errors, artifacts)
    finance.login("finance", demo_logins["finance"])
    finance.visit("/admin/")
    driver.find_element(By.LINK_TEXT, "Reports").click()
    finance.check_current()
    driver.find_element(By.LINK_TEXT, "Revenue").click()
    finance.check_current()
    WebDriverWait(driver, WAIT).until(lambda d: _chart_points(d) > 0)
    finance.screenshot("report-revenue")
    finance.visit("/admin/reports/report/ar-aging/")
    WebDriverWait(driver, WAIT).until(lambda d: _chart_points(d) > 0)
    finance.screenshot("report-ar-aging")
    overdue = driver.find_elements(By.CSS_SELECTOR, "#result_list td.money a")
    assert overdue, "no aging figure links to its invoices"
    overdue[0].click()
    finance.check_current()
    assert driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    finance.visit("/admin/reports/report/billed-fairly/?start=2025-12-01&end=2026-11-30")
    flags = driver.find_element(By.ID, "result_list").text
    assert "over-billed" in flags
    assert "under-billed" in flags
    finance.screenshot("report-billed-fairly")

    manager = User.objects.get(username="manager")
    others = set(
        Contract.objects.exclude(account__account_manager=manager).values_list(
            "account__legal_name", flat=True
        )
    )
    assert others
    mine = AdminBrowser(driver, demo_site, "manager", server_errors, artifacts)
    driver.delete_all_cookies()
    mine.login("manager", demo_logins["manager"])
    for slug in ("revenue", "billed-fairly", "ar-aging", "recurring-revenue", "usage-vs-commit"):
        mine.visit(f"/admin/reports/report/{slug}/?start=2025-12-01&end=2026-11-30")
        text = driver.find_element(By.ID, "content").text
        assert not [name for name in others if name in text], slug
    finance.problems.extend(mine.problems)
    if finance.problems:
        pytest.fail(problems_report(finance.problems), pytrace=False)


def test_finance_works_the_payments_and_a_manager_sees_only_their_own(
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
) -> None:
    """Finance, through the Payments section on the demo: retries Northwind's declined
    invoice with a reason (recorded, nothing sent: no Stripe account in the demo), reads the
    Radar queue, saves a draft answer to Thames' dispute, reads the acceptance rates with their
    chart, and Bergmann's account page with its SEPA mandate. An account manager's payments
    pages name none of another manager's customers and offer no action."""
    finance = AdminBrowser(driver, demo_site, "finance", server_errors, artifacts)
    finance.login("finance", demo_logins["finance"])
    finance.visit("/admin/")
    driver.find_element(By.LINK_TEXT, "Collections").click()
    finance.check_current()
    row = next(
        r
        for r in driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
        if "Northwind Traders Inc." in r.text
    )
    assert "12,500.00" in row.text, row.text
    row.find_element(By.NAME, "reason").send_keys("Customer topped up the account")
    row.find_element(By.CSS_SELECTOR, "input[type=submit][value='Retry payment now']").click()
    finance.check_current()
    retry = PaymentRetry.objects.get()
    assert (retry.requested_by.username, retry.reason) == (
        "finance",
        "Customer topped up the account",
    )
    assert "Retry under way" in driver.find_element(By.ID, "result_list").text

    finance.visit("/admin/payments/radarqueue/")
    queue = driver.find_element(By.ID, "content").text
    assert "Radar review" in queue
    assert "Early fraud warning" in queue
    assert len(driver.find_elements(By.CSS_SELECTOR, "#content form input[name=reason]")) >= 2

    finance.visit("/admin/payments/disputeevidence/")
    driver.find_element(By.PARTIAL_LINK_TEXT, "dp_demo_thames").click()
    finance.check_current()
    driver.find_element(By.NAME, "product_description").send_keys("Analytics seats, 2026")
    driver.find_element(By.NAME, "reason").send_keys("First answer, to complete")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit][name=save_draft]").click()
    finance.check_current()
    draft = DisputeEvidence.objects.get()
    assert (draft.submit, draft.saved_by.username) == (False, "finance")
    assert draft.evidence["product_description"] == "Analytics seats, 2026"

    finance.visit("/admin/reports/report/acceptance-rates/?start=2026-11-01&end=2026-11-30")
    WebDriverWait(driver, WAIT).until(lambda d: _chart_points(d) > 0)
    finance.screenshot("report-acceptance-rates")

    bergmann = Account.objects.get(external_ref="CRM-0002")
    finance.visit(f"/admin/customers/account/{bergmann.pk}/change/")
    page = driver.find_element(By.ID, "content").text
    assert "SEPA" in page
    assert "active" in page

    manager = User.objects.get(username="manager")
    others = set(
        Account.objects.exclude(account_manager=manager).values_list("legal_name", flat=True)
    )
    assert others
    mine = AdminBrowser(driver, demo_site, "manager", server_errors, artifacts)
    driver.delete_all_cookies()
    mine.login("manager", demo_logins["manager"])
    for url in (
        "/admin/payments/paymentretry/",
        "/admin/payments/radarqueue/",
        "/admin/payments/disputeevidence/",
        "/admin/reports/report/acceptance-rates/?start=2026-11-01&end=2026-11-30",
    ):
        mine.visit(url)
        text = driver.find_element(By.ID, "content").text
        assert not [name for name in others if name in text], url
        assert not driver.find_elements(By.CSS_SELECTOR, "#content form input[name=reason]"), url
    finance.problems.extend(mine.problems)
    if finance.problems:
        pytest.fail(problems_report(finance.problems), pytrace=False)
