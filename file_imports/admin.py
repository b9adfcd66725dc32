"""The admin's import and export pages: django-import-export's, with our preview table.

A domain's ModelAdmin takes FileImportExportMixin and names its resources (`resource_classes`;
contracts have two, the contracts' terms and their lines, chosen on the import page). The
library's pages do the rest: the file and its format, the upload kept in the library's
temporary storage between the preview and the confirm (IMPORT_EXPORT_TMP_STORAGE_CLASS), the
permission codes (IMPORT_EXPORT_IMPORT_PERMISSION_CODE / EXPORT), the export's resource,
format and columns. Ours: the date format, the size limit, the preview table (our
ImportReport, see templates/admin/file_imports/import.html), the message once imported, and a
template file to start from.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.signing import Signer
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.crypto import constant_time_compare
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ImportForm, SelectableFieldsExportForm
from import_export.signals import post_import

from file_imports.engine import Resource, bytes_of, file_format_class, template_file
from file_imports.files import FORMATS, FileRefused, max_upload_bytes, size_check

DATE_FORMATS = [
    ("", "YYYY-MM-DD (ISO) only"),
    ("%d/%m/%Y", "DD/MM/YYYY (day first)"),
    ("%m/%d/%Y", "MM/DD/YYYY (month first)"),
    ("%d.%m.%Y", "DD.MM.YYYY"),
]


class FileImportForm(ImportForm):
    date_format = forms.ChoiceField(
        choices=DATE_FORMATS,
        required=False,
        help_text="How the file writes dates, when not as 2026-04-03.",
    )
    field_order = ["resource", "import_file", "format", "date_format"]

    def clean_import_file(self) -> Any:
        file = self.cleaned_data["import_file"]
        try:
            size_check(file.size)
        except FileRefused as error:
            raise forms.ValidationError(str(error)) from error
        return file


class FileConfirmImportForm(ConfirmImportForm):
    """The library's confirm form, signed: the confirm imports only the file this user
    previewed, as previewed (its name, resource, format and date format), so a confirm form
    changed in between, or sent by someone else, is refused (the library's is not signed)."""

    date_format = forms.CharField(widget=forms.HiddenInput(), required=False)
    signature = forms.CharField(widget=forms.HiddenInput())
    SIGNED = ("import_file_name", "original_file_name", "format", "resource", "date_format")

    def __init__(self, *args: Any, user_pk: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_pk = user_pk
        if not self.is_bound and self.initial:
            self.initial["signature"] = self.sign(self.initial)

    def sign(self, values: dict[str, Any]) -> str:
        text = "\n".join([str(self.user_pk), *(str(values.get(k) or "") for k in self.SIGNED)])
        return Signer(salt="file_imports.confirm").signature(text)

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()
        # The library keeps only the base name of import_file_name; signed was the name sent.
        sent = {**data, "import_file_name": self.data.get("import_file_name", "")}
        if not constant_time_compare(self.sign(sent), data.get("signature") or ""):
            raise forms.ValidationError(
                "This confirmation is not the one of your preview: upload the file again."
            )
        return data


class FileExportForm(SelectableFieldsExportForm):
    """The library's export form. Its page draws a "Select all" box with an inline handler,
    which the Content-Security-Policy refuses; the box is left out (the first column of each
    resource is no longer its "initial field") and file_imports/export_page.js draws one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if getattr(field, "initial_field", False):
                field.initial_field = False
                field.widget.attrs["data-first-column"] = "true"

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(js=("file_imports/export_page.js",))


def _one_confirm_at_a_time(stored_name: str) -> None:
    """Two confirms of one stored file at once (a double click, two tabs) run one after the
    other: the second then finds the file gone (the first imported it and removed it) and is
    told so, where both would import and the second fail on the first's new rows. A lock held
    until the confirm's transaction ends; SQLite has one writer at a time anyway."""
    if connection.vendor == "postgresql" and stored_name:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["import:" + stored_name])


class FileImportExportMixin(ImportExportMixin):
    """For a ModelAdmin: the library's import and export pages on its list."""

    resource_classes: list[type[Resource]]
    import_template_name = "admin/file_imports/import.html"
    import_form_class = FileImportForm
    confirm_form_class = FileConfirmImportForm
    export_form_class = FileExportForm
    # Every record written has its history entry (who, and "import: FILE"); the admin's
    # LogEntry per row would repeat it, a row at a time.
    skip_admin_log = True

    def get_import_formats(self) -> list[Any]:
        return list(FORMATS)

    def get_export_formats(self) -> list[Any]:
        return [f for f in FORMATS if f().can_export()]

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {"user": request.user}

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {"user": request.user}

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        form = kwargs.get("form")
        data = getattr(form, "cleaned_data", None) or {}
        return {"date_format": data.get("date_format") or ""}

    def get_confirm_form_kwargs(
        self, request: HttpRequest, import_form: Any = None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_confirm_form_kwargs(request, import_form)
        return {**kwargs, "user_pk": request.user.pk}

    def get_confirm_form_initial(self, request: HttpRequest, import_form: Any) -> dict[str, Any]:
        initial: dict[str, Any] = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["date_format"] = import_form.cleaned_data.get("date_format") or ""
        return initial

    def add_data_read_fail_error_to_form(self, form: Any, e: Exception) -> None:
        if isinstance(e, FileRefused):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def get_import_context_data(self, **kwargs: Any) -> dict[str, Any]:
        app, model = self.get_model_info()
        return {
            "max_size_mb": max_upload_bytes() // (1024 * 1024),
            "import_templates": [
                (
                    resource.get_display_name(),
                    reverse(f"admin:{app}_{model}_import_template", args=[resource.name]),
                )
                for resource in self.resource_classes
            ],
        }

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The library's confirm; a file no longer in the temporary storage (confirmed twice,
        or left more than a day) is said so, where the library would fail with an error."""
        try:
            with transaction.atomic():
                _one_confirm_at_a_time(str(request.POST.get("import_file_name", "")))
                response: HttpResponse = super().process_import(request, **kwargs)
        except FileNotFoundError:
            messages.error(
                request,
                "That file is no longer waiting for its confirmation (imported already, or "
                "previewed more than a day ago): nothing was imported now. Upload it again.",
            )
            app, model = self.get_model_info()
            return HttpResponseRedirect(reverse(f"admin:{app}_{model}_import"))
        return response

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        """Imported: back to the list with the report's summary. Refused at the confirm (a row
        became invalid since the preview): the import page again, with the report, the file
        to be fixed and uploaded again."""
        report = result.report
        if not report.applied:
            context = {
                **self.get_import_context_data(),
                **self.admin_site.each_context(request),
                "title": "Import",
                "form": self.create_import_form(request),
                "opts": self.model._meta,
                "result": result,
                "fields_list": [],
                "import_error_display": self.import_error_display,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, [self.import_template_name], context)
        messages.success(request, report.summary())
        post_import.send(sender=None, model=self.model)
        app, model = self.get_model_info()
        return HttpResponseRedirect(
            reverse(f"admin:{app}_{model}_changelist", current_app=self.admin_site.name)
        )

    def create_import_form(self, request: HttpRequest) -> Any:
        if request.method == "POST" and "confirm" in request.POST:
            # The confirm's page, refused: an empty form to upload the fixed file.
            return self.get_import_form_class(request)(
                self.get_import_formats(), self.get_import_resource_classes(request)
            )
        return super().create_import_form(request)

    def get_urls(self) -> list[Any]:
        app, model = self.get_model_info()
        return [
            path(
                "import/template/<slug:resource>/",
                self.admin_site.admin_view(self.template_view),
                name=f"{app}_{model}_import_template",
            ),
            *super().get_urls(),
        ]

    def template_view(self, request: HttpRequest, resource: str) -> HttpResponse:
        """A file with the resource's columns and example rows, to start from."""
        resource_class = next((r for r in self.resource_classes if r.name == resource), None)
        if resource_class is None:
            raise Http404(f"No import of {resource} here.")
        if not request.user.has_perm(resource_class.permission):
            raise PermissionDenied
        extension = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
        file_format = file_format_class(extension)()
        return HttpResponse(
            bytes_of(template_file(resource_class, file_format=extension)),
            content_type=file_format.get_content_type(),
            headers={
                "Content-Disposition": (
                    f'attachment; filename="{resource_class.name}-template.{extension}"'
                )
            },
        )
