"""Journeys through the real forms, in the browser, on the demo data: finance imports a contract
and its lines file (preview, then confirm); an account manager imports one, submits it for
approval, and finance approves it. Each page on the way is checked like the crawl's
(browser_tests/pages.py); each journey's last page is kept as a screenshot (journey-*.png in the
artifacts).

Not here yet: a contract entered on the contract page's nested form, and working the invoice
review queue (both pages are being reworked).
"""

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from billing.contracts.models import Contract
from browser_tests.pages import AdminBrowser, problems_report

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


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
    browser.visit(f"/admin/billing/contract/import/{resource}/")
    driver.find_element(By.CSS_SELECTOR, "input[type=file][name=file]").send_keys(str(path))
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
    _import(browser, "contracts", contracts, rows=1)
    _import(browser, "contract_lines", lines, rows=4)

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
    _import(manager, "contracts", contracts, rows=1)
    _import(manager, "contract_lines", lines, rows=4)
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
