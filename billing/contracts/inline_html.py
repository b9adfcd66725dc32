"""The contract page's inlines drawn in Python, to the letter of nested-admin's and Django's
templates: at 200 lines the page draws about 1,400 nested form rows and 10,000 inputs, and
rendering each through a template was most of its time. Tests compare the output with the
libraries' own templates (billing/contracts/tests/test_contract_page_queries.py)."""

import itertools
from html import escape as html_escape
from typing import Any

import nested_admin
from django.contrib.admin.utils import quote
from django.forms.formsets import (
    INITIAL_FORM_COUNT,
    MAX_NUM_FORM_COUNT,
    MIN_NUM_FORM_COUNT,
    TOTAL_FORM_COUNT,
)
from django.forms.renderers import DjangoTemplates
from django.forms.utils import ErrorList
from django.template.defaultfilters import title as title_case
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst, slugify
from django.utils.translation import gettext
from nested_admin.templatetags.nested_admin import form_index


def _esc(value: Any) -> str:
    """conditional_escape, without its lazy-string checks (tens of thousands of calls a page)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html_escape(str(value))


class PlainInputsRenderer(DjangoTemplates):
    """Writes plain inputs, selects, labels and empty error lists directly, to the letter of
    Django's templates for them: the contract page has thousands (every phase and tier field,
    every formset's hidden counts) and each costs a template render otherwise. Anything else
    goes through the templates."""

    # Each is input.html and a line break; renderers strip what they render.
    INPUTS = frozenset(
        f"django/forms/widgets/{name}.html"
        for name in ("text", "number", "hidden", "checkbox", "date")
    )
    ERROR_LISTS = frozenset((ErrorList.template_name, ErrorList.template_name_ul))
    OPTION = "django/forms/widgets/select_option.html"

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if template_name in self.INPUTS:
            return _input_html(context["widget"])
        if template_name == "admin/widgets/date.html":  # <p> around date.html
            return f'<p class="date">\n  {_input_html(context["widget"])}\n\n\n</p>'
        if template_name in self.ERROR_LISTS and not context["errors"]:
            return ""
        if template_name == "django/forms/label.html":
            label = _esc(context["label"])
            if not context["use_tag"]:
                return label
            tag = _esc(context["tag"])
            return f"<{tag}{_attrs_html(context['attrs'] or {})}>{label}</{tag}>"
        if template_name == "django/forms/widgets/select.html":
            html = _select_html(context["widget"])
            if html is not None:
                return html
        return super().render(template_name, context, request)


def _attrs_html(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html (and django/forms/attrs.html, the same)."""
    html = []
    for name, value in attrs.items():
        if value is True:
            html.append(f" {_esc(name)}")
        elif value is not False:
            html.append(f' {_esc(name)}="{_esc(value)}"')
    return "".join(html)


def _input_html(widget: dict[str, Any]) -> str:
    """django/forms/widgets/input.html."""
    value = widget["value"]
    shown = "" if value is None else f' value="{_esc(value)}"'
    return (
        f'<input type="{_esc(widget["type"])}" '
        f'name="{_esc(widget["name"])}"{shown}{_attrs_html(widget["attrs"])}>'
    )


def _select_html(widget: dict[str, Any]) -> str | None:
    """django/forms/widgets/select.html without option groups (None with them)."""
    options = []
    for group_name, group, _ in widget["optgroups"]:
        if group_name:
            return None
        for option in group:
            if option["template_name"] != PlainInputsRenderer.OPTION:
                return None
            options.append(
                f'\n  <option value="{_esc(option["value"])}"'
                f"{_attrs_html(option['attrs'])}>{_esc(option['label'])}</option>\n"
            )
    name = _esc(widget["name"])
    return f'<select name="{name}"{_attrs_html(widget["attrs"])}>{"".join(options)}\n</select>'


PLAIN_INPUTS = PlainInputsRenderer()


# --- Nested-admin's stacked and tabular inline templates, written in Python: the same markup
# (its script relies on it), without a template engine pass over every line, phase and tier;
# test_contract_page_queries compares them with the templates.


class _AdminField:
    """What the templates read of an admin field (AdminField or AdminReadonlyField)."""

    def __init__(self, field: Any) -> None:
        self.admin = field
        self.readonly = field.is_readonly
        bound = field.field
        if self.readonly:  # a dict
            self.name, self.hidden = bound["name"], bound["is_hidden"]
            self.help_text, self.id_for_label = bound["help_text"], ""
        else:
            self.name, self.hidden = bound.name, bound.is_hidden
            self.help_text, self.id_for_label = bound.help_text, bound.id_for_label

    def widget_or_contents(self) -> str:
        if self.readonly:
            # An inline may show a read-only value its own way (money in the contract's
            # currency: readonly_contents), else as the admin does.
            own = getattr(self.admin.model_admin, "readonly_contents", None)
            shown = own(self.admin.form.instance, self.name) if own else None
            return f"<p>{self.admin.contents() if shown is None else _esc(shown)}</p>"
        return str(self.admin.field)


def _fields(row: Any) -> list[list[list[_AdminField]]]:
    """A row's fieldsets, their lines and fields."""
    return [[[_AdminField(field) for field in line] for line in fieldset] for fieldset in row]


def _add_another(inline_admin_formset: Any) -> str:
    # The templates strip the inline's own name from its name (a no-op), then title-case it.
    name = _esc(title_case(str(inline_admin_formset.opts.verbose_name)))
    return gettext("Add another %(verbose_name)s") % {"verbose_name": name}


def _management_form(formset: Any) -> str:
    """The formset's management form; written directly when not posted (hundreds of formsets
    at a few hundred lines, each building a form of four hidden fields otherwise)."""
    if formset.is_bound:
        return str(formset.management_form)
    counts = (
        (TOTAL_FORM_COUNT, formset.total_form_count()),
        (INITIAL_FORM_COUNT, formset.initial_form_count()),
        (MIN_NUM_FORM_COUNT, formset.min_num),
        (MAX_NUM_FORM_COUNT, formset.max_num),
    )
    html = []
    for field, value in counts:
        name = _esc(formset.add_prefix(field))
        html.append(f'<input type="hidden" name="{name}" value="{value}" id="id_{name}">')
    return "".join(html)


class _InlineHtml:
    """An object {% include %} takes for a template (change_form.html includes each inline's
    `template`)."""

    def render(self, context: Any) -> SafeString:
        forloop = context.get("forloop") or {}
        html = self.html(context["inline_admin_formset"], bool(forloop.get("last")))
        return mark_safe(html)  # noqa: S308 - every value in it is escaped as it is written

    def html(self, inline_admin_formset: Any, last: bool) -> str:
        raise NotImplementedError

    @staticmethod
    def nested(row: Any) -> str:
        inlines = getattr(row.form, "inlines", None) or []
        return "".join(
            nested.opts.template.html(nested, n == len(inlines))
            for n, nested in enumerate(inlines, start=1)
        )

    @staticmethod
    def group_open(inline_admin_formset: Any, kind: str) -> str:
        formset = inline_admin_formset.formset
        level = "djn-group-nested" if formset.is_nested else "djn-group-root"
        return (
            f'<div class="inline-group group djn-group djn-{kind} {level}" '
            f'id="{_esc(formset.prefix)}-group" data-inline-type="stacked" '
            f'data-inline-formset="{_esc(inline_admin_formset.inline_formset_data())}" '
            f'data-inline-model="{_esc(inline_admin_formset.inline_model_id)}">'
        )

    @staticmethod
    def title(inline_admin_formset: Any, plural: bool = True) -> str:
        opts = inline_admin_formset.opts
        title = getattr(opts, "title", None)
        if not title:
            title = capfirst(opts.verbose_name_plural if plural else opts.verbose_name)
        return _esc(title)

    @staticmethod
    def row_attrs(inline_admin_formset: Any, row: Any, empty: bool) -> str:
        opts = row.model_admin.opts
        pk = row.pk_field().field
        initial = f' data-is-initial="{"true" if pk.value() else "false"}"' if pk else ""
        index = "empty" if empty else str(form_index(row.form))
        return (
            f'data-inline-model="{_esc(opts.app_label)}-{_esc(opts.model_name)}"{initial} '
            f'id="{_esc(inline_admin_formset.formset.prefix)}-{index}"'
        )

    @staticmethod
    def original(inline_admin_formset: Any, row: Any) -> str:
        html = _esc(row.original) if row.original else ""
        admin_ = row.model_admin
        if row.original and admin_.show_change_link and admin_.has_registered_model:
            url = reverse(
                f"admin:{admin_.opts.app_label}_{admin_.opts.model_name}_change",
                args=[quote(row.original.pk)],
            )
            may_change = inline_admin_formset.has_change_permission
            html += (
                f' <a href="{_esc(url)}" class="'
                f'{"inlinechangelink" if may_change else "inlineviewlink"}">'
                f"{_esc(gettext('Change') if may_change else gettext('View'))}</a>"
            )
        return html

    @staticmethod
    def handlers(inline_admin_formset: Any) -> str:
        return _esc(" ".join(inline_admin_formset.handler_classes))


class StackedInlineHtml(_InlineHtml):
    """nesting/admin/inlines/stacked.html and includes/inline.html (Django 5)."""

    def html(self, inline_admin_formset: Any, last: bool) -> str:
        formset, opts = inline_admin_formset.formset, inline_admin_formset.opts
        collapsible = inline_admin_formset.is_collapsible
        may_add = inline_admin_formset.has_add_permission
        handlers = self.handlers(inline_admin_formset)
        html = [
            self.group_open(inline_admin_formset, "stacked"),
            f'<fieldset class="djn-fieldset module {_esc(inline_admin_formset.classes)}">',
            "<details><summary>" if collapsible else "",
            f"<h2>{self.title(inline_admin_formset)}</h2>",
            "</summary>" if collapsible else "",
            _management_form(formset),
            str(formset.non_form_errors()),
            '<div class="items djn-items">',
        ]
        rows = list(inline_admin_formset)
        for n, row in enumerate(rows, start=1):
            empty = n == len(rows) and may_add
            if n == 1:
                html.append('<div class="djn-item djn-no-drag"><div></div></div>')
            has_original = " has_original" if row.original or row.show_url else ""
            html.append(
                f'<div class="{"" if empty else "djn-item"} djn-module djn-inline-form'
                f"{has_original}{' djn-empty-form empty-form last-related' if empty else ''}"
                f' inline-related" {self.row_attrs(inline_admin_formset, row, empty)}>'
            )
            sortable = opts.sortable_options
            drag = " djn-drag-handler" if not sortable or not sortable.get("disabled") else ""
            label = self.original(inline_admin_formset, row) if row.original else f"#{n}"
            html.append(
                f'<h3 class="{drag}"><b>{_esc(capfirst(opts.verbose_name))}:</b>&nbsp;'
                f'<span class="inline_label">{label}</span>'
            )
            if row.show_url:
                html.append(
                    f'<a href="{_esc(row.absolute_url)}">{_esc(gettext("View on site"))}</a>'
                )
            if formset.can_delete:
                if row.original:
                    deletion = row.deletion_field()
                    html.append(
                        f'<span class="delete djn-delete-handler {handlers}">'
                        f"{deletion.field} {deletion.label_tag()}</span>"
                    )
                else:
                    html.append(
                        f'<span><a class="inline-deletelink djn-remove-handler {handlers}" '
                        'href="javascript:void(0)">Remove</a></span>'
                    )
            html.append("</h3>")
            if row.form.non_field_errors():
                html.append(f'<ul class="errorlist"><li>{row.form.non_field_errors()}</li></ul>')
            fieldsets = list(zip(row, _fields(row), strict=True))
            for f, (fieldset, lines) in enumerate(fieldsets, start=1):
                html.append(self.fieldset(row, fieldset, lines, f == len(fieldsets)))
            if row.needs_explicit_pk_field():
                html.append(str(row.pk_field().field))
            if row.fk_field():
                html.append(str(row.fk_field().field))
            html.append(self.nested(row))
            html.append("</div>")
        html += [
            "</div>",
            '<div class="djn-module djn-add-item add-item add-row">'
            f'<a href="javascript://" class="add-handler djn-add-handler {handlers}">'
            f"{_add_another(inline_admin_formset)}</a></div>",
            "</details>" if collapsible else "",
            "</fieldset></div>",
        ]
        return "".join(html)

    def fieldset(
        self, row: Any, fieldset: Any, lines: list[list[_AdminField]], last_fieldset: bool
    ) -> str:
        has_inlines = " has-inlines" if getattr(row.form, "inlines", None) else ""
        collapsible = fieldset.name and fieldset.is_collapsible
        html = [
            f'<fieldset class="module aligned djn-module {_esc(fieldset.classes)}{has_inlines}">'
        ]
        if fieldset.name:
            html.append("<details><summary>" if collapsible else "")
            html.append(f'<h4 class="fieldset-heading">{_esc(fieldset.name)}</h4>')
            html.append("</summary>" if collapsible else "")
        if fieldset.description:
            html.append(f'<div class="description">{fieldset.description}</div>')
        for n, (line, fields) in enumerate(zip(fieldset, lines, strict=True), start=1):
            single = len(line.fields) == 1
            errors = line.errors()
            classes = "".join(f" field-{_esc(field.name)}" for field in fields if field.name)
            html.append(
                f'<div class="form-row{" errors" if single and errors else ""}'
                f"{'' if line.has_visible_field else ' hidden'}{classes}"
                f'{" djn-form-row-last" if n == len(lines) and last_fieldset else ""}">'
            )
            html.append(str(errors) if single else '<div class="flex-container form-multiline">')
            for field in fields:
                admin_field = field.admin
                html.append("<div>")
                field_errors = "" if field.readonly else str(admin_field.errors())
                if not single:
                    html.append(field_errors)
                box = ""
                if not single:
                    box = " fieldBox" + (f" field-{_esc(field.name)}" if field.name else "")
                    box += " errors" if field_errors else ""
                    box += " hidden" if field.hidden else ""
                checkbox = admin_field.is_checkbox
                html.append(
                    f'<div class="flex-container{box}{" checkbox-row" if checkbox else ""}">'
                )
                if checkbox:
                    html.append(f"{admin_field.field}{admin_field.label_tag()}")
                else:
                    html.append(f"{admin_field.label_tag()}{field.widget_or_contents()}")
                html.append("</div>")
                if field.help_text:
                    help_id = (
                        f' id="{_esc(field.id_for_label)}_helptext"' if field.id_for_label else ""
                    )
                    html.append(
                        f'<div class="help{" hidden" if field.hidden else ""}"{help_id}>'
                        f"<div>{field.help_text}</div></div>"
                    )
                html.append("</div>")
            html.append("" if single else "</div>")
            html.append("</div>")
        html.append("</details>" if collapsible else "")
        html.append("</fieldset>")
        return "".join(html)


class TabularInlineHtml(_InlineHtml):
    """nesting/admin/inlines/tabular.html."""

    def head(self, inline_admin_formset: Any) -> str:
        """The table's header: the same for each phase's tiers (each line's phases), so written
        once a request (Django builds an add-row form for its labels each time)."""
        formset = inline_admin_formset.formset
        key = (
            type(formset),
            inline_admin_formset.has_change_permission,
            tuple(inline_admin_formset.readonly_fields),
        )
        written = inline_admin_formset.request.__dict__.setdefault("_contract_page_heads", {})
        if key in written:
            return str(written[key])
        html = ['<thead class="djn-module djn-thead"><tr><th class="original"></th>']
        for field in inline_admin_formset.fields():
            widget = field["widget"]  # a widget, or a dict for read-only fields
            if widget["is_hidden"] if isinstance(widget, dict) else widget.is_hidden:
                continue
            label = str(field["label"])
            required = " required" if field["required"] else ""
            html.append(f'<th class="djn-th {_esc(slugify(label.lower()))}{required}">')
            html.append(_esc(capfirst(label)))
            if field["help_text"]:
                help_text = _esc(strip_tags(field["help_text"]))
                html.append(
                    f' &nbsp;<img src="{_esc(static("admin/img/icon-unknown.svg"))}" '
                    f'class="help help-tooltip" width="10" height="10" alt="({help_text})" '
                    f'title="{help_text}" />'
                )
            html.append("</th>")
        if formset.can_delete:
            html.append(f'<th class="djn-th">{_esc(gettext("Delete?"))}</th>')
        html.append("</tr></thead>")
        written[key] = "".join(html)
        return str(written[key])

    @staticmethod
    def _empty_row_key(inline_admin_formset: Any) -> tuple[Any, ...]:
        formset = inline_admin_formset.formset
        return (
            type(formset),
            inline_admin_formset.has_change_permission,
            inline_admin_formset.has_delete_permission,
            tuple(inline_admin_formset.readonly_fields),
            formset.instance.pk is None,
        )

    def reused_empty_row(self, inline_admin_formset: Any) -> str | None:
        """The add-row template (with its own nested add-rows) of an inline drawn before on
        this page, rewritten for this one: every line has one for its phases and every phase
        one for its tiers, and building each was a third of the page's time at 200 lines. They
        differ only in their prefix and in the parent's id the template carries."""
        if not inline_admin_formset.formset.is_nested:
            return None
        drawn = inline_admin_formset.request.__dict__.get("_contract_page_empty_rows", {})
        kept = drawn.get(self._empty_row_key(inline_admin_formset))
        if kept is None:
            return None
        html, prefix, parent = kept
        formset = inline_admin_formset.formset
        fk_input = f'name="{prefix}-__prefix__-{formset.fk.name}" value="{_esc(parent)}"'
        parent_now = "" if formset.instance.pk is None else formset.instance.pk
        html = html.replace(
            fk_input,
            f'name="{prefix}-__prefix__-{formset.fk.name}" value="{_esc(parent_now)}"',
        )
        return str(html.replace(prefix, formset.prefix))

    def keep_empty_row(self, inline_admin_formset: Any, html: str) -> None:
        formset = inline_admin_formset.formset
        if not formset.is_nested:
            return
        drawn = inline_admin_formset.request.__dict__.setdefault("_contract_page_empty_rows", {})
        parent = "" if formset.instance.pk is None else formset.instance.pk
        drawn.setdefault(self._empty_row_key(inline_admin_formset), (html, formset.prefix, parent))

    def html(self, inline_admin_formset: Any, last: bool) -> str:
        formset, opts = inline_admin_formset.formset, inline_admin_formset.opts
        collapsible = inline_admin_formset.is_collapsible
        may_add = inline_admin_formset.has_add_permission
        handlers = self.handlers(inline_admin_formset)
        html = [
            self.group_open(inline_admin_formset, "tabular"),
            f'<div class="tabular inline-related {"last-related" if last and may_add else ""}">',
            f'<fieldset class="module djn-fieldset {_esc(inline_admin_formset.classes)}">',
            "<details><summary>" if collapsible else "",
            f"<h2>{self.title(inline_admin_formset, plural=formset.max_num != 1)}</h2>",
            "</summary>" if collapsible else "",
            _management_form(formset),
            str(formset.non_form_errors()),
            '<table class="djn-items inline-related djn-table">',
            self.head(inline_admin_formset),
        ]
        reused = self.reused_empty_row(inline_admin_formset) if may_add else None
        if reused is None:
            rows = list(inline_admin_formset)
        else:  # every row but the add-row template, which is never built
            # (Django pairs the initial forms with the rows read: a row posted but not read,
            # refused, is not drawn.)
            shown = min(len(formset.initial_forms), len(formset.get_queryset()))
            shown += len(formset.extra_forms)
            rows = list(itertools.islice(inline_admin_formset, shown))
        for n, row in enumerate(rows, start=1):
            empty = n == len(rows) and may_add and reused is None
            if empty:
                start = len(html)
            lines = _fields(row)
            fields = [field for fieldset in lines for line in fieldset for field in line]
            cells = 1 + len(fields) + (1 if formset.can_delete else 0)
            has_original = " has_original" if row.original or row.show_url else ""
            classes = "".join(
                (
                    "" if empty else " djn-item",
                    " djn-inline-form",
                    f" {_esc(' '.join(opts.classes))}" if opts.classes else "",
                    has_original,
                    " djn-empty-form empty-form" if empty else "",
                    " djn-has-inlines" if getattr(row.form, "inlines", None) else "",
                )
            )
            row_attrs = self.row_attrs(inline_admin_formset, row, empty)
            html.append(f'<tbody class="djn-tbody{classes}" {row_attrs}>')
            if row.form.non_field_errors():
                html.append(
                    f'<tr><td class="djn-td" colspan="{cells}"><ul class="errorlist">'
                    f"<li>{row.form.non_field_errors()}</li></ul></td></tr>"
                )
            sortable = " is-sortable" if opts.sortable_field_name else ""
            html.append(
                f'<tr class="djn-tr form-row{has_original}"><td class="original{sortable}">'
            )
            if row.original or row.show_url:
                html.append("<p>")
                html.append(self.original(inline_admin_formset, row))
                if row.show_url:
                    html.append(
                        f'<a href="{_esc(row.absolute_url)}">{_esc(gettext("View on site"))}</a>'
                    )
                html.append("</p>")
            if opts.sortable_field_name:
                html.append('<span class="djn-drag-handler"></span>')
            if row.needs_explicit_pk_field():
                html.append(str(row.pk_field().field))
            if row.fk_field():
                html.append(str(row.fk_field().field))
            html += [str(field.admin.field) for field in fields if field.hidden]
            html.append("</td>")
            for field in fields:
                if field.hidden:
                    continue
                html.append(f'<td class="djn-td field-{_esc(field.name)}">')
                if not field.readonly and field.admin.field.errors:
                    html.append(str(field.admin.field.errors.as_ul()))
                html.append(field.widget_or_contents())
                html.append("</td>")
            if formset.can_delete:
                if row.original:
                    html.append(
                        f'<td class="delete djn-delete-handler {handlers}">'
                        f"{row.deletion_field().field}</td>"
                    )
                else:
                    html.append(
                        '<td class="delete"><div><a class="inline-deletelink djn-remove-handler '
                        f'{handlers}" href="javascript:void(0)">Remove</a></div></td>'
                    )
            html.append("</tr>")
            if getattr(row.form, "inlines", None):
                nested = self.nested(row)
                html.append(f'<tr class="djn-tr"><td class="djn-td" colspan="{cells}">')
                html.append(f"{nested}</td></tr>")
            html.append("</tbody>")
            if empty:
                html.append(
                    f'<tbody><tr class="add-row"><td colspan="{cells}" class="djn-add-item">'
                    f'<a href="javascript://" class="add-handler djn-add-handler {handlers}">'
                    f"{_add_another(inline_admin_formset)}</a></td></tr></tbody>"
                )
                self.keep_empty_row(inline_admin_formset, "".join(html[start:]))
        if reused is not None:
            html.append(reused)
        html += ["</table>", "</details>" if collapsible else "", "</fieldset></div></div>"]
        return "".join(html)


class OneRowMediaFormset(nested_admin.nested.NestedInlineAdminFormset):
    """Each row of an inline has the same widgets and the same nested inlines, so one row's
    media is the inline's. Nested-admin collected it from every row of every nested inline,
    building each row's nested inlines to do so: a third of the page's time at 200 lines."""

    _one_row = False

    @property
    def media(self) -> Any:
        self._one_row = True
        try:
            return super().media
        finally:
            self._one_row = False

    def __iter__(self) -> Any:
        rows = super().__iter__()
        return itertools.islice(rows, 1) if self._one_row else rows

    def _set_inline_admin_form_nested_attrs(self, inline_admin_form: Any) -> None:
        # nested-admin's, except that it went through every row of each nested inline, its
        # add-row template included (built for the purpose), to gather their prepopulated
        # fields: here only the inlines that have some are gone through (the contract page's
        # have none; building the templates was a fifth of its time at 200 lines).
        form = inline_admin_form.form
        if not getattr(form, "inlines", None):
            nesting: Any = self.formset if form.prefix.endswith("__prefix__") else form
            form.inlines = self.model_admin.get_inline_formsets(
                self.request,
                getattr(nesting, "nested_formsets", None) or [],
                getattr(nesting, "nested_inlines", None) or [],
                obj=form.instance if form.instance.pk else None,
                allow_nested=True,
            )
        for nested_inline in form.inlines:
            if _prepopulates(type(nested_inline.opts)):
                for nested_form in nested_inline:
                    inline_admin_form.prepopulated_fields += nested_form.prepopulated_fields


def _prepopulates(inline: type) -> bool:
    """Whether an inline, or one nested in it, has prepopulated fields."""
    return bool(getattr(inline, "prepopulated_fields", None)) or any(
        _prepopulates(nested) for nested in getattr(inline, "inlines", ())
    )
