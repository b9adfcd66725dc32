"""The Reports section: a page listing the reports, a page per report (filters, chart, table,
export to CSV or XLSX) and the pages behind each figure (the invoices or lines it adds up).
Thin: the figures are reports.selectors', the presentation reports.pages'."""

import json
from html import escape
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from backoffice.admin_site import PageAdmin, ReadOnlyAdmin
from backoffice.collector import collector_paused
from backoffice.models import User
from reports.models import QueryRun, Report, SavedQuery
from reports.pages import (
    DRILL_DOWNS,
    PAGE_ROWS,
    REPORTS,
    ROW_LIMIT,
    ReportFilterForm,
    ReportPage,
    asked_page,
    drill_url,
    export_file,
    mirror_invoice_url,
    report_page,
    shown,
    this_year,
    today,
)
from reports.query_pages import ParametersForm, result_table, shown_rows
from reports.saved_queries import QueryRefused, declared_parameters, max_rows, query_run, translate
from reports.selectors import AGING_BUCKETS, Table, report_reading

VIEW_REPORTS = "reports.view_reports"


@admin.register(Report)
class ReportAdmin(PageAdmin):
    """No records: its list is the Reports page."""

    page_permission = VIEW_REPORTS

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("", view(self.index_view), name="reports_report_changelist"),
            *(
                path(f"{slug}/", view(self.report_view), {"slug": slug}, name=f"reports_{slug}")
                for slug in [*REPORTS, *DRILL_DOWNS]
            ),
        ]

    def _allowed(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def index_view(self, request: HttpRequest) -> TemplateResponse:
        self._allowed(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Reports",
            "reports": [(page, reverse(f"admin:reports_{page.slug}")) for page in REPORTS.values()],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/reports/index.html", context)

    def _page_context(
        self, request: HttpRequest, page: ReportPage, form: ReportFilterForm, **more: Any
    ) -> dict[str, Any]:
        """What every rendering of a report's page shows, and `more`."""
        return {
            **self.admin_site.each_context(request),
            "title": page.title,
            "page": page,
            "form": form,
            "reports_url": reverse("admin:reports_report_changelist"),
            "opts": self.model._meta,
            **more,
        }

    def report_view(self, request: HttpRequest, slug: str) -> HttpResponse:
        self._allowed(request)
        page = REPORTS.get(slug) or DRILL_DOWNS.get(slug)
        if page is None:
            raise Http404
        user = cast(User, request.user)
        start, end = this_year(today())
        form = ReportFilterForm(
            request.GET or None,
            user=user,
            shown=page.filters,
            initial={"start": start, "end": end},  # the range shown when none is asked
        )
        export = request.GET.get("export", "")
        exported = export in ("csv", "xlsx")
        if form.is_bound and not form.is_valid():
            # Figures for other filters than those asked (the defaults) would be read as the
            # answer: the page says what is wrong and shows none, an export is refused.
            return TemplateResponse(
                request,
                "admin/reports/report.html",
                self._page_context(request, page, form, refused=True),
                status=400 if exported else 200,
            )
        day = today()
        filters = form.filters(day)
        data = form.cleaned_data if form.is_bound else {}
        # A page needs its rows and those before it; an export all of them.
        first = None if exported else asked_page(request.GET.get("page")) * PAGE_ROWS
        # The rows and cells form no cycles for the collector to look for.
        with collector_paused():
            with report_reading():
                table = page.build(user, filters, data, day, first)
            if exported:
                return _attachment(table, export, f"{page.slug}-{filters.start}-{filters.end}")
        query = {
            **{k: v for k, v in request.GET.items() if k not in ("export", "page")},
            "start": filters.start.isoformat(),
            "end": filters.end.isoformat(),
        }
        shown_page = report_page(table, request.GET.get("page"))
        context = self._page_context(
            request,
            page,
            form,
            filters=filters,
            table=table,
            columns=table.columns,
            rows=[_row_html(_cells(page, table.columns, row, query)) for row in shown_page.rows],
            shown_page=shown_page,
            previous_page=_page_link(query, shown_page.number - 1) if shown_page.number > 1 else "",
            next_page=_page_link(query, shown_page.number + 1)
            if shown_page.number < shown_page.pages
            else "",
            chart_json=json.dumps(table.chart) if table.chart else "",
            chart_currencies=_chart_currencies(table.chart, query),
            export_csv="?" + urlencode({**query, "export": "csv"}),
            export_xlsx="?" + urlencode({**query, "export": "xlsx"}),
            is_drill_down=page.slug in DRILL_DOWNS,
        )
        return TemplateResponse(request, "admin/reports/report.html", context)


def _attachment(table: Table, extension: str, name: str) -> HttpResponse:
    """The table exported as a CSV or XLSX file the browser saves as `name`.`extension`."""
    content, content_type = export_file(table, extension)
    return HttpResponse(
        content,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{extension}"'},
    )


def _page_link(query: dict[str, Any], number: int) -> str:
    return "?" + urlencode({**query, "page": number})


def _chart_currencies(chart: dict[str, Any] | None, query: dict[str, Any]) -> list[Any]:
    """(currency, link, shown) for each currency the chart can draw: one at a time."""
    if not chart or len(chart.get("currencies", [])) < 2:
        return []
    return [
        (currency, "?" + urlencode({**query, "currency": currency}), currency == chart["currency"])
        for currency in chart["currencies"]
    ]


def _row_html(cells: list[tuple[str, str, str]]) -> SafeString:
    """A row's cells as HTML, each text, link and class escaped (html.escape, as Django's
    escape is): written here rather than by the template's loop (~40 ms for a page of a
    hundred rows of seventeen cells) or by format_html for each cell (~20 ms)."""
    return mark_safe(  # noqa: S308 - every value below is escaped
        "".join(
            f'<td class="{escape(kind)}"><a href="{escape(link)}">{escape(text)}</a></td>'
            if link
            else f'<td class="{escape(kind)}">{escape(text)}</td>'
            for text, link, kind in cells
        )
    )


def _cells(
    page: ReportPage, columns: list[Any], row: dict[str, Any], query: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """Each cell as (text, link, kind): a figure links to what it adds up (a zero to
    nothing: it adds up no invoice)."""
    currency = row.get("currency", "")
    cells = []
    for index, column in enumerate(columns):
        link = ""
        if page.slug == "ar-aging" and column.key in AGING_KEYS:
            if row.get(column.key):
                link = drill_url(page, {**query, "bucket": column.key}, row)
        elif _links_behind(page, column.key, index, row):
            link = drill_url(page, query, row)
        elif column.key == "invoice" and row.get("_invoice"):
            link = mirror_invoice_url(row["_invoice"])
        cells.append((shown(row.get(column.key), column, currency), link, column.kind))
    return cells


def _links_behind(page: ReportPage, key: str, index: int, row: dict[str, Any]) -> bool:
    """Aging: the total. Other reports: the row's name (its second column)."""
    if page.slug == "ar-aging":
        return key == "total"
    return page.slug in REPORTS and index == 1 and bool(row.get("_drill"))


AGING_KEYS = frozenset(key for key, *_ in AGING_BUCKETS)
RUN_SAVED_QUERY = "reports.run_savedquery"


class SavedQueryForm(forms.ModelForm):
    class Meta:
        model = SavedQuery
        fields = ("name", "description", "sql", "parameters", "chart_kind", "chart_x", "chart_y")
        widgets = {
            "sql": forms.Textarea(attrs={"rows": 14, "cols": 100, "class": "vLargeTextField"})
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            declared = declared_parameters(data.get("parameters") or [])
            _, used = translate(data.get("sql") or "", "postgresql")
        except QueryRefused as error:
            raise forms.ValidationError(str(error)) from error
        undeclared = sorted(set(used) - {p["name"] for p in declared})
        if undeclared:
            self.add_error("parameters", f"The SQL uses :{undeclared[0]}: declare it here.")
        return data


@admin.register(SavedQuery)
class SavedQueryAdmin(admin.ModelAdmin):
    """Finance writes the questions; finance and account managers run them (a manager's run
    sees only their accounts: the reporting views decide, not this page)."""

    form = SavedQueryForm
    list_display = ("name", "description", "updated_at", "run_link")
    search_fields = ("name", "description")
    readonly_fields = ("owner", "created_at", "updated_at")

    @admin.display(description="Run")
    def run_link(self, obj: SavedQuery) -> str:
        return format_html(
            '<a href="{}">Run</a>', reverse("admin:reports_savedquery_run", args=[obj.pk])
        )

    def save_model(self, request: HttpRequest, obj: SavedQuery, form: Any, change: bool) -> None:
        if not change:
            obj.owner = cast(User, request.user)
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/run/",
                self.admin_site.admin_view(self.run_view),
                name="reports_savedquery_run",
            ),
            *super().get_urls(),
        ]

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(RUN_SAVED_QUERY):
            raise PermissionDenied
        saved = self.get_object(request, object_id)
        if saved is None:
            raise Http404
        user = cast(User, request.user)
        try:
            declared = declared_parameters(saved.parameters)
        except QueryRefused:
            declared = []
        form = ParametersForm(request.GET or None, declared=declared)
        result = query_run(
            user=user,
            sql=saved.sql,
            parameters=saved.parameters,
            values=form.values(),
            saved=saved,
        )
        table = result_table(result, saved)
        export = request.GET.get("export", "")
        if export in ("csv", "xlsx") and result.outcome == QueryRun.Outcome.OK:
            return _attachment(table, export, f"query-{saved.pk}-{today().isoformat()}")
        query = {k: v for k, v in request.GET.items() if k != "export"}
        context = {
            **self.admin_site.each_context(request),
            "title": saved.name,
            "saved": saved,
            "form": form,
            "result": result,
            "columns": table.columns,
            "rows": shown_rows(table)[:ROW_LIMIT],
            "not_shown": max(0, len(table.rows) - ROW_LIMIT),
            "chart": table.chart,
            "max_rows": max_rows(),
            "export_csv": "?" + urlencode({**query, "export": "csv"}),
            "export_xlsx": "?" + urlencode({**query, "export": "xlsx"}),
            "list_url": reverse("admin:reports_savedquery_changelist"),
            "change_url": reverse("admin:reports_savedquery_change", args=[saved.pk]),
            "may_change": self.has_change_permission(request, saved),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/reports/saved_query_run.html", context)


@admin.register(QueryRun)
class QueryRunAdmin(ReadOnlyAdmin):
    """Every run of a query, answered or refused: read-only, for finance."""

    list_display = ("started_at", "run_by", "query", "outcome", "rows", "duration_ms", "message")
    list_filter = ("outcome",)
    list_select_related = ("run_by", "query")
    search_fields = ("sql", "run_by__username", "query__name")
    date_hierarchy = "started_at"
