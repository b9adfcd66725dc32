"""The crawl's checks catch what they are there to catch: a page that passes is a page that works.

Pages broken on purpose (browser_tests/urls_selfcheck.py) on the live server: each must be
reported, a plain page must not be (its favicon's 404 ignored).
"""

import re
from pathlib import Path
from typing import Any

import pytest

from browser_tests.pages import AdminBrowser

# Like the crawl's (test_crawl.py): the database as migrations left it, before and after.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_checks_report_each_kind_of_broken_page(
    live_server: Any, settings: Any, driver: Any, server_errors: Any, tmp_path: Path
) -> None:
    settings.ROOT_URLCONF = "browser_tests.urls_selfcheck"
    # Its screenshots are not the run's: kept out of the artifacts.
    browser = AdminBrowser(driver, live_server.url, "selfcheck", server_errors, tmp_path)

    def errors(path: str) -> str:
        return "\n".join(problem.error for problem in browser.visit(path).problems)

    assert errors("/selfcheck/fine/") == ""

    # An exception in a view: the status, Django's page and the server's traceback.
    found = errors("/selfcheck/server-exception/")
    assert "HTTP 500" in found
    assert "Django's error page: Server Error (500)" in found
    assert "server exception: Internal Server Error: /selfcheck/server-exception/" in found
    assert "KeyError: 'paid'" in found
    assert "console network" in found  # "Failed to load resource: ... status of 500"
    # The browser asks for /favicon.ico (a 404 here too): not the page's fault.
    assert "favicon" not in found

    found = errors("/selfcheck/console-error/")
    assert "console javascript" in found
    assert "undefinedFunction is not a function" in found

    # What the Content-Security-Policy refuses (an inline script, a <style> element) is a
    # console error too: a page of the admin that needs one fails the crawl.
    found = errors("/selfcheck/csp-violation/")
    # Chrome's words: "Executing inline script violates ..." (older: "Refused to execute
    # inline script because it violates ...").
    assert re.search(r"inline script\b.*violates", found)
    assert re.search(r"inline style\b.*violates", found)
    assert browser.driver.title == "Inline"  # the script did not run

    assert "HTTP 404" in errors("/selfcheck/not-found/")

    # An admin page without a session: sent to the login page.
    assert "sent to the login page" in errors("/admin/")

    # Each failing page got a screenshot.
    assert all(Path(problem.screenshot).is_file() for problem in browser.problems)
    assert len({problem.screenshot for problem in browser.problems}) == 5
