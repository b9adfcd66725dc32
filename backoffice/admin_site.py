"""The admin is the product: one site for finance staff and account managers."""

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from djstripe.apps import DjstripeAppConfig
from simple_history.admin import SimpleHistoryAdmin

from backoffice.home import home_panels, navigation


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Finance back-office"
    site_title = "Finance back-office"
    index_title = "What needs doing"

    def has_permission(self, request: HttpRequest) -> bool:
        """Staff, and past the second factor they owe (backoffice/logins/): the admin refuses a
        session that has given only its password even without SecondFactorMiddleware."""
        from backoffice.logins.policy import second_factor_satisfied

        return super().has_permission(request) and second_factor_satisfied(request)

    def index(self, request: HttpRequest, extra_context: Any = None) -> TemplateResponse:
        """The home page: each role's figures (backoffice/home.py), then every screen."""
        context = {"home_panels": home_panels(self, request), **(extra_context or {})}
        return super().index(request, context)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> Any:
        """The app list of the index and the sidebar, the work first: the sections the domains
        place (backoffice.home.navigation: Invoice review, Contracts, Accounts, Tax settings...)
        in their order, then the other apps, then those collapsed under one heading (the Stripe
        mirror's dozens of lists). An admin with an `index_section` and no place in the
        navigation is listed under that title rather than its app's. Each domain names its own
        sections; the site knows none of them.

        A session that owes its second factor (has_permission says no) is shown no screen."""
        if not self.has_permission(request):
            return []
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list
        sections: dict[str, dict[str, Any]] = {}
        for app in app_list:
            app["collapsed"] = getattr(
                apps.get_app_config(app["app_label"]), "collapsed_in_navigation", False
            )
            kept = []
            for entry in app["models"]:
                title = navigation.section_of(entry["model"]) or getattr(
                    self._registry.get(entry["model"]), "index_section", None
                )
                if title is None:
                    kept.append(entry)
                    continue
                section = sections.setdefault(title, {**app, "name": title, "models": []})
                section["models"].append(entry)
            app["models"] = kept
        for title, section in sections.items():
            placed = navigation.get(title)
            listed = placed.models if placed else ()
            section["models"].sort(
                key=lambda e: listed.index(e["model"]) if e["model"] in listed else len(listed)
            )
            # The heading opens the section's first list (an app's page would show the others).
            section["app_url"] = section["models"][0]["admin_url"] or section["app_url"]

        def place(app: dict[str, Any]) -> tuple[int, int, str]:
            placed = navigation.get(app["name"]) if app["name"] in sections else None
            if placed is not None:
                return (0, placed.order, "")
            return (2 if app["collapsed"] else 1, 0, str(app["name"]))

        shown = [a for a in app_list if a["models"]] + list(sections.values())
        return sorted(shown, key=place)


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"


class StripeMirrorConfig(DjstripeAppConfig):
    """dj-stripe, under the name finance knows it by in the admin."""

    verbose_name = "Stripe mirror (read-only)"
    # Its dozens of lists under one heading, after the work (templates/admin/app_list.html).
    collapsed_in_navigation = True


class BackofficeAdmin(SimpleHistoryAdmin):
    """The base of our model admins.

    - History pages show only what the person may see in the list: simple-history's history
      views look objects up without the admin's get_queryset, so an account manager could read
      the history of another manager's account by its URL.
    - The selection checkbox of each row is written directly: Django renders it through the
      form template engine, about 1.3 ms a row, a third of a 100-row list's time.
    """

    @admin.display(
        description=mark_safe(
            '<input type="checkbox" id="action-toggle" aria-label="Select all objects on this page '
            'for an action">'
        )
    )
    def action_checkbox(self, obj: Any) -> str:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="Select this object for an action - {}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            obj,
        )

    def _check_visible(self, request: HttpRequest, object_id: str) -> None:
        if not self.get_queryset(request).filter(pk=unquote(object_id)).exists():
            raise Http404(f"No {self.opts.verbose_name} {object_id} that you may see.")

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        self._check_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> Any:
        self._check_visible(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the back-office writes itself (sync status, events, invoice reviews): read by
    people, changed only through their actions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyHistoryAdmin(ReadOnlyAdmin, BackofficeAdmin):
    """Records made by the services only (Radar decisions, payment retries, dispute evidence):
    viewed, never added, changed or deleted here; their history only where their row is
    visible (BackofficeAdmin)."""


class PageAdmin(ReadOnlyAdmin):
    """No records: a model without a table standing for a page of its own (the Reports, the
    Radar queue), listed in the navigation for whoever has `page_permission`; the subclass
    serves the page from get_urls."""

    page_permission = ""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(self.page_permission)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.page_permission)


def plain_column(field: str, description: str) -> Any:
    """A changelist column showing a choices field's stored value (a currency code).

    Django's admin renders a choices field by flattening all its choices for every row: for
    135 currencies on a 100-row page that is most of the page's time.
    """

    @admin.display(description=description, ordering=field)
    def column(obj: Any) -> str:
        return str(getattr(obj, field))

    return column
