"""The home page (the admin index) and the navigation, put together from what each domain says.

Each domain, in its AppConfig.ready(), registers into the two registries here (backoffice
imports no domain, so the site knows none of their figures or screens):
- `home_figures`: a function that answers, for the person looking, the figures that need them
  (drafts flagged, contracts waiting for approval...), each with the filtered list it stands for;
- `navigation`: its sections of the app list and their place, the work first: Invoice review
  (10), Contracts (20), Accounts (30), Tax settings (40), Stripe sync (50); other apps follow,
  and an app whose AppConfig says `collapsed_in_navigation` (the Stripe mirror) comes last,
  under one heading.

A figure is shown only to a person who may open its list; the count is of the rows they see
there, so a figure and its list never disagree.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class Detail:
    """A row under a figure: one record and what to know about it (why it was sent back)."""

    model: type[Model]
    pk: Any
    text: str  # "C-2026-00004, Acme GmbH"
    note: str = ""  # "sent back: the PO number is missing"


@dataclass(frozen=True)
class Figure:
    panel: str  # the heading it is shown under: a section of the navigation ("Contracts")
    label: str  # what is counted, in finance's words: "Drafts flagged"
    count: int
    model: type[Model]  # the list the figure opens...
    filters: Mapping[str, str]  # ...with these filters (its query string): exactly the rows counted
    amount: str = ""  # a total in one currency, already formatted as money; never summed across
    details: tuple[Detail, ...] = ()


FigureSource = Callable[[HttpRequest], Iterable[Figure]]


class HomeFigures:
    """The functions that give the home page its figures, one or more per domain."""

    def __init__(self) -> None:
        self._sources: list[FigureSource] = []

    def register(self, *sources: FigureSource) -> None:
        """Show these functions' figures on the home page; registering twice shows them once."""
        for source in sources:
            if source not in self._sources:
                self._sources.append(source)

    def figures(self, request: HttpRequest) -> list[Figure]:
        return [figure for source in self._sources for figure in source(request)]

    def __repr__(self) -> str:
        names = ", ".join(f"{s.__module__}.{s.__qualname__}" for s in self._sources)
        return f"<HomeFigures: {names or 'none'}>"


home_figures = HomeFigures()


@dataclass(frozen=True)
class Section:
    title: str  # "Invoice review"
    order: int  # sections with a lower order come first; unplaced apps follow, then collapsed
    models: tuple[type[Model], ...] = field(default=())  # in the order they are listed


class Navigation:
    """Sections of the app list (index and sidebar), each named and placed by its domain."""

    def __init__(self) -> None:
        self._sections: dict[str, Section] = {}
        self._section_of: dict[type[Model], str] = {}

    def section(self, title: str, *models: type[Model], order: int) -> None:
        """List `models` under `title`, at place `order`, whatever app they belong to. Safe to
        call again (AppConfig.ready() may run twice in tests)."""
        self._sections[title] = Section(title, order, models)
        for model in models:
            self._section_of[model] = title

    def section_of(self, model: type[Model]) -> str | None:
        return self._section_of.get(model)

    def get(self, title: str) -> Section | None:
        return self._sections.get(title)


navigation = Navigation()


def may_open(request: HttpRequest, model: type[Model], site: admin.AdminSite | None = None) -> bool:
    """Whether the person may open `model`'s list: what their figures are decided by, before
    a query is made for a figure they would not be shown."""
    try:
        model_admin = (site or admin.site).get_model_admin(model)
    except NotRegistered:
        return False
    return bool(model_admin.has_view_or_change_permission(request))


def _url(site: admin.AdminSite, model: type[Model], view: str, *args: Any) -> str | None:
    opts = model._meta
    try:
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args, current_app=site.name
        )
    except NoReverseMatch:
        return None


def home_panels(site: admin.AdminSite, request: HttpRequest) -> list[dict[str, Any]]:
    """The figures for the person, grouped in panels in the navigation's order, each with the
    link to its list; none they may not open. A figure of nothing has no link: nothing to do."""
    panels: dict[str, dict[str, Any]] = {}
    for figure in home_figures.figures(request):
        if not may_open(request, figure.model, site):
            continue
        changelist = _url(site, figure.model, "changelist")
        if changelist is None:
            continue
        details = [
            {"text": d.text, "note": d.note, "url": _url(site, d.model, "change", d.pk)}
            for d in figure.details
            if may_open(request, d.model, site)
        ]
        panel = panels.setdefault(figure.panel, {"title": figure.panel, "figures": []})
        panel["figures"].append(
            {
                "label": figure.label,
                "count": figure.count,
                "amount": figure.amount,
                "url": f"{changelist}?{urlencode(figure.filters)}" if figure.count else None,
                "details": details,
            }
        )

    def place(title: str) -> tuple[int, int]:
        section = navigation.get(title)
        return (0, section.order) if section else (1, 0)

    return sorted(panels.values(), key=lambda p: place(p["title"]))
