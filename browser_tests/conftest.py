"""Headless Chromium (Debian's `chromium` and `chromedriver`) against pytest-django's live server,
with the demo data loaded. Not part of `make test` (pyproject.toml's testpaths leave this folder
out): `make test-browser` runs it.

Screenshots go to $BROWSER_ARTIFACTS, `browser-artifacts/` at the repository's root by default.

Each test starts from the database as migrations left it (serialized_rollback: the periodic
tasks and other rows data migrations write), serialized when the test database is built. Run
on a fresh test database (pytest-django's default, or `--create-db`): one kept with
`--reuse-db` was emptied by the last run's tests and no longer holds those rows.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from browser_tests.pages import ServerErrors

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# Seconds a page may take: the machine running CI may be busy.
PAGE_LOAD_TIMEOUT = int(os.environ.get("BROWSER_PAGE_TIMEOUT", "180"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("BROWSER_ARTIFACTS", "") or ROOT / "browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _missing(path: str) -> bool:
    return not (Path(path).exists() or shutil.which(path))


@pytest.fixture
def driver() -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium, its console kept (goog:loggingPrefs) for the checks."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if _missing(path):
            pytest.fail(f"{path} is missing: apt-get install -y {package} (see .ci/run)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,900",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    chrome.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    chrome.set_script_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    """Exceptions the live server logs while answering (it runs in a thread of this process)."""
    with ServerErrors.listening() as handler:
        yield handler


@pytest.fixture
def demo_site(live_server: Any, transactional_db: None, demo_logins: dict[str, str]) -> str:
    """The live server's address, with everything `make demo` loads (logins' passwords in
    demo_logins). Committed data: the server answers from its own connection."""
    from demo.load import demo_data_load

    demo_data_load(password=next(iter(demo_logins.values())))
    return str(live_server.url)
