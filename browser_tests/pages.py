"""Opening admin pages in the browser and noting everything wrong with each, without stopping.

A page is wrong when its document answers an HTTP error (read from the browser's navigation
timing), when it is Django's "Server Error (500)" page or its technical 500 page, when the server
logged an exception while answering (the live server runs in this process: its `django.request`
errors are caught here with their traceback), when it lands on the login page (the session was
lost or refused), or when the browser's console has an error (level SEVERE), a favicon's 404
apart. Each problem is kept as a `Problem`; the test reports them all at the end.
"""

import logging
import re
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from demo.users import DEMO_TOTP_SECRETS, demo_totp_code

# Django's page for an unhandled exception with DEBUG off (no 500.html), and its technical page
# with DEBUG on: "<title>KeyError at /admin/...</title>" and a traceback section.
SERVER_ERROR_TEXT = "Server Error (500)"
TECHNICAL_500_TITLE = re.compile(r"^\S.* at /\S*$")
# Console messages that say nothing about the product: the browser asks for /favicon.ico.
IGNORED_CONSOLE = (re.compile(r"favicon\.ico"),)
TRACEBACK_LINES = 12
# Where the login form sends a person who owes a second factor (backoffice/logins/urls.py).
SECOND_FACTOR_PATH = "/admin/two-factor/code/"


@dataclass(frozen=True)
class Problem:
    role: str
    url: str
    error: str
    screenshot: str = ""


def problems_report(problems: list[Problem]) -> str:
    """One entry a page: its role and URL, every error found on it, its screenshot."""
    pages: dict[tuple[str, str], list[Problem]] = {}
    for problem in problems:
        pages.setdefault((problem.role, problem.url), []).append(problem)
    entries = []
    for (role, url), found in pages.items():
        errors = "".join("\n  - " + problem.error.replace("\n", "\n      ") for problem in found)
        shot = found[0].screenshot
        entries.append(f"[{role}] {url}{errors}" + (f"\n  screenshot: {shot}" if shot else ""))
    return f"{len(pages)} page(s) with problems:\n" + "\n".join(entries)


class ServerErrors(logging.Handler):
    """Exceptions the server logged (`django.request`, level ERROR), with their traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._lock_records = threading.Lock()
        self._records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            lines = "".join(traceback.format_exception(*record.exc_info)).rstrip().splitlines()
            text += "\n" + "\n".join(lines[-TRACEBACK_LINES:])
        with self._lock_records:
            self._records.append(text)

    def take(self) -> list[str]:
        with self._lock_records:
            records, self._records = self._records, []
        return records

    @classmethod
    @contextmanager
    def listening(cls) -> Iterator["ServerErrors"]:
        handler = cls()
        logger = logging.getLogger("django.request")
        logger.addHandler(handler)
        try:
            yield handler
        finally:
            logger.removeHandler(handler)


@dataclass
class Visit:
    url: str
    status: int | None
    seconds: float
    problems: list[Problem]


@dataclass
class AdminBrowser:
    """One role's browser on the live server: `visit` opens a page and notes what is wrong."""

    driver: ChromiumDriver
    base_url: str
    role: str
    server_errors: ServerErrors
    artifacts: Path
    problems: list[Problem] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path if path.startswith("/") else path

    def path(self) -> str:
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def screenshot(self, name: str) -> str:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        target = self.artifacts / f"{name}.png"
        # The whole page, not only the window: grow the window to the document's height.
        try:
            height = self.driver.execute_script(
                "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
            )
            width = self.driver.get_window_size()["width"]
            self.driver.set_window_size(width, min(max(int(height) + 120, 900), 8000))
            self.driver.save_screenshot(str(target))
        finally:
            self.driver.set_window_size(self.driver.get_window_size()["width"], 900)
        return str(target)

    def login(self, username: str, password: str) -> None:
        """Through the real login form; the index it lands on is checked like any page."""
        self.visit("/admin/login/")
        self.driver.find_element(By.ID, "id_username").send_keys(username)
        self.driver.find_element(By.ID, "id_password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
        WebDriverWait(self.driver, 120).until(
            lambda d: (
                "/admin/login/" not in d.current_url
                or d.find_elements(By.CSS_SELECTOR, ".errornote")
            )
        )
        if "/admin/login/" in self.driver.current_url:
            raise AssertionError(f"{username} could not log in: {self.driver.page_source[:2000]}")
        if urlsplit(self.driver.current_url).path == SECOND_FACTOR_PATH:
            self.second_factor(username)
        self.check_current()

    def second_factor(self, username: str) -> None:
        """The code page after the password (the roles that approve must give one): the code
        the demo login's authenticator app shows now, computed from the demo's known secret.
        A code is accepted once: if this login's was just used (the same user signing in twice
        within 30 seconds), the next one is typed when it comes."""
        if username not in DEMO_TOTP_SECRETS:
            raise AssertionError(f"{username} is asked for a code and has no demo secret")
        for _ in range(3):
            code, seconds_left = demo_totp_code(username)
            field = self.driver.find_element(By.ID, "id_code")
            field.clear()
            field.send_keys(code)
            self.driver.find_element(By.CSS_SELECTOR, "#code-form [type=submit]").click()
            WebDriverWait(self.driver, 120).until(
                lambda d: (
                    urlsplit(d.current_url).path != SECOND_FACTOR_PATH
                    or d.find_elements(By.CSS_SELECTOR, ".errornote")
                )
            )
            if urlsplit(self.driver.current_url).path != SECOND_FACTOR_PATH:
                return
            time.sleep(seconds_left + 1)
        raise AssertionError(f"{username}'s code was refused: {self.driver.page_source[:2000]}")

    def check_current(self) -> Visit:
        """The page the browser is on now (after a form was sent), checked like a visit."""
        started = time.monotonic()
        WebDriverWait(self.driver, 120).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        return self._check(self.path(), started)

    def visit(self, path: str) -> Visit:
        started = time.monotonic()
        try:
            self.driver.get(self.url(path))
        except TimeoutException:
            return self._record(path, None, started, ["the page did not load in time"])
        except WebDriverException as error:
            return self._record(path, None, started, [f"the browser failed: {error.msg}"])
        return self._check(path, started)

    def _check(self, path: str, started: float) -> Visit:
        errors: list[str] = []
        status = self._status()
        if status is not None and status >= 400:
            errors.append(f"HTTP {status}")
        title = self.driver.title.strip()
        body = self._text("body")
        if SERVER_ERROR_TEXT in title or SERVER_ERROR_TEXT in body[:500]:
            errors.append(f"Django's error page: {SERVER_ERROR_TEXT}")
        if TECHNICAL_500_TITLE.match(title) and self.driver.find_elements(By.ID, "traceback"):
            errors.append(f"Django's technical 500 page: {title}")
        if "/admin/login/" in self.driver.current_url and not path.startswith("/admin/login/"):
            errors.append(f"sent to the login page ({self.path()})")
        errors += [f"server exception: {text}" for text in self.server_errors.take()]
        errors += self._console_errors()
        return self._record(path, status, started, errors)

    def _record(self, path: str, status: int | None, started: float, errors: list[str]) -> Visit:
        problems = []
        if errors:
            # Named after the page: admin-failure-admin_djstripe_invoice_44_change.png
            page = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")[:150] or "home"
            try:
                shot = self.screenshot(f"{self.role}-failure-{page}")
            except WebDriverException:
                shot = ""
            problems = [Problem(self.role, path, error, shot) for error in errors]
            self.problems += problems
        visit = Visit(path, status, time.monotonic() - started, problems)
        self.visits.append(visit)
        return visit

    def _status(self) -> int | None:
        """The document's HTTP status, as the browser received it (after any redirect)."""
        try:
            status = self.driver.execute_script(
                "const nav = performance.getEntriesByType('navigation')[0];"
                "return nav ? nav.responseStatus : null;"
            )
        except WebDriverException:
            return None
        return int(status) if status else None

    def _text(self, selector: str) -> str:
        try:
            return self.driver.find_element(By.CSS_SELECTOR, selector).text
        except WebDriverException:
            return ""

    def _console_errors(self) -> list[str]:
        errors = []
        for entry in self.driver.get_log("browser"):
            message = entry.get("message", "")
            if entry.get("level") != "SEVERE":
                continue
            if any(pattern.search(message) for pattern in IGNORED_CONSOLE):
                continue
            errors.append(f"console {entry.get('source', '')}: {message}")
        return errors

    def links(self, selector: str) -> list[str]:
        """Same-site paths of the links under `selector` on the current page, in order."""
        hrefs = self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]))"
            ".map(a => a.href).filter(Boolean);",
            selector,
        )
        base = urlsplit(self.base_url)
        paths = []
        for href in hrefs:
            parts = urlsplit(href)
            if parts.netloc != base.netloc or parts.scheme not in ("http", "https"):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path not in paths:
                paths.append(path)
        return paths
