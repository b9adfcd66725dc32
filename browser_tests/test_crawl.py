"""Every admin screen as each role would see it, in a real browser, on the demo data.

For each role the crawl logs in through the login form (and, for admin and finance, the code
page of the second factor), then opens: its own two-factor pages, the home page and every
admin link on it (its figures link to filtered lists, whose first object is opened too), each
app's page, and for every model registered in the admin that the role may view (the Stripe
mirror's included): its list, the first object the list links to (or, when the list shows none,
the first the role may see), the add page when the role may add, and the buttons above each list
and object (History, Import, a contract's workflow steps, each a confirmation page). Files are
not downloaded (exports). Every page is checked (browser_tests/pages.py); all problems are
reported together at the end, each with its URL, role, error and screenshot.
"""

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db.models import Model
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from backoffice.models import User
from browser_tests.pages import AdminBrowser, problems_report

ROLES = ("admin", "finance", "manager")
# Links not to follow: they end the session or download a file.
SKIPPED_LINKS = ("/admin/logout/", "export", ".csv", "/template/")
FIRST_ROW_LINKS = "#result_list tbody tr:first-child a[href]"
# The buttons above a list or an object: Add, Import..., History, a contract's workflow steps
# (each opens a confirmation page), "New contract for" an account.
OBJECT_TOOLS = ".object-tools a[href]"

# The live server answers from its own connection: committed data (transaction=True). The
# database as migrations left it (periodic tasks and other data migrations' rows) is put back
# before each test (serialized_rollback), as a real install has it.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _admin_request(user: User) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _may(check: Any, request: Any, *args: Any) -> bool:
    """An admin's permission check; one that fails outright is crawled (its page shows why)."""
    try:
        return bool(check(request, *args))
    except Exception:
        return True


def _first_visible(model_admin: admin.ModelAdmin, request: Any) -> Model | None:
    try:
        return model_admin.get_queryset(request).order_by("pk").first()
    except Exception:
        return None


def _url(name: str, *args: Any, **kwargs: Any) -> str | None:
    try:
        return reverse(name, args=args, kwargs=kwargs)
    except NoReverseMatch:
        return None


def _bare(path: str) -> str:
    return path.split("?")[0]


def _key(path: str) -> str:
    """A page once: the same page reached from a filtered list is not opened again."""
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "_changelist_filters"]
    return parts.path + (f"?{urlencode(query)}" if query else "")


class Crawl:
    """Opens every screen a user may see, each once."""

    def __init__(self, browser: AdminBrowser, user: User) -> None:
        self.browser = browser
        self.request = _admin_request(user)
        self.opened: list[str] = []
        self.seen: set[str] = set()
        registry = sorted(
            admin.site._registry.items(),
            key=lambda item: (item[0]._meta.app_label, item[0]._meta.model_name),
        )
        self.viewable = [
            (model, model_admin)
            for model, model_admin in registry
            if _may(model_admin.has_view_or_change_permission, self.request)
        ]
        self.changelists = {
            reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"): (
                model,
                model_admin,
            )
            for model, model_admin in self.viewable
        }

    def run(self) -> list[str]:
        """From the home page the browser is on; returns the paths opened, in order."""
        home = self.browser.path()
        self.seen.add(_key(home))
        self.opened.append(home)
        home_links = self.links("#content a[href]")
        # Each person's own two-factor page (in the user tools) and the page that sets up (or
        # replaces) an authenticator app (backoffice/logins/).
        self.visit(_url("logins:status"))
        self.visit(_url("logins:enrol"))
        for app_label in dict.fromkeys(model._meta.app_label for model, _ in self.viewable):
            self.visit(_url("admin:app_list", app_label=app_label))
        for model, model_admin in self.viewable:
            info = (model._meta.app_label, model._meta.model_name)
            self.open_list(reverse("admin:{}_{}_changelist".format(*info)))
            if _may(model_admin.has_add_permission, self.request):
                self.visit(_url("admin:{}_{}_add".format(*info)))
        # The home page's figures: filtered lists, whose first object may be another kind (a
        # contract waiting for approval, a flagged draft).
        for path in home_links:
            if _bare(path) in self.changelists:
                self.open_list(path)
            else:
                self.visit(path)
        return self.opened

    def links(self, selector: str) -> list[str]:
        return [
            path
            for path in self.browser.links(selector)
            if path.startswith("/admin/") and not any(skip in path for skip in SKIPPED_LINKS)
        ]

    def visit(self, path: str | None) -> bool:
        if not path or _key(path) in self.seen:
            return False
        self.seen.add(_key(path))
        self.opened.append(path)
        self.browser.visit(path)
        return True

    def open_list(self, path: str) -> None:
        """The list, the object of its first row (else the first the user may see), and the
        list's buttons."""
        if not self.visit(path):
            return
        changelist = _bare(path)
        tools = self.links(OBJECT_TOOLS)
        change = next(
            (
                link
                for link in self.links(FIRST_ROW_LINKS)
                if link.startswith(changelist) and _bare(link).endswith("/change/")
            ),
            None,
        )
        if change is None and path == changelist:
            model, model_admin = self.changelists[changelist]
            obj = _first_visible(model_admin, self.request)
            if obj is not None:
                info = (model._meta.app_label, model._meta.model_name)
                change = _url("admin:{}_{}_change".format(*info), quote(obj.pk))
        if change is not None:
            self.open_object(change)
        for link in tools:
            self.visit(link)

    def open_object(self, path: str) -> None:
        """An object's page and its buttons (History, a contract's workflow steps...)."""
        if self.visit(path):
            for link in self.links(OBJECT_TOOLS):
                self.visit(link)


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_page_opens_without_error(
    role: str,
    demo_site: str,
    demo_logins: dict[str, str],
    driver: Any,
    server_errors: Any,
    artifacts: Path,
) -> None:
    browser = AdminBrowser(driver, demo_site, role, server_errors, artifacts)
    user = User.objects.get(username=role)

    browser.login(role, demo_logins[role])
    browser.screenshot(f"{role}-home")
    opened = Crawl(browser, user).run()
    browser.screenshot(f"{role}-last")

    report = artifacts / f"crawl-{role}.txt"
    report.write_text(
        "".join(
            f"{visit.status or '---'} {visit.seconds:6.2f}s {visit.url}"
            f"{'  FAILED' if visit.problems else ''}\n"
            for visit in browser.visits
        )
        + (f"\n{problems_report(browser.problems)}\n" if browser.problems else "")
    )
    assert len(opened) > 5, f"{role} opened only {opened}"
    if browser.problems:
        pytest.fail(
            f"As {role}, in {len(browser.visits)} pages opened (each with its status and time: "
            f"{report}), " + problems_report(browser.problems),
            pytrace=False,
        )
