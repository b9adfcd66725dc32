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

import os
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.signing import Signer
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.crypto import constant_time_compare
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ImportForm, SelectableFieldsExportForm
from import_export.signals import post_import

from file_imports.engine import (
    ImportReport,
    Resource,
    bytes_of,
    file_format_class,
    result_of,
    template_file,
)
from file_imports.files import (
    FORMATS,
    FileRefused,
    max_rows,
    max_upload_bytes,
    rows_before_reading,
    size_check,
)
from file_imports.jobs import background_rows, import_job_confirm, import_job_start
from file_imports.models import ImportJob
from file_imports.storage import ImportFileStorage, confirm_lock
from file_imports.uploads import bounded_upload

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

    def __init__(self, formats: Any, resources: Any, *, refused: str = "", **kwargs: Any) -> None:
        super().__init__(formats, resources, **kwargs)
        self.formats = formats
        # Why the upload was stopped while it streamed (file_imports.uploads): the file and
        # the fields after it never arrived, and only that is said.
        self.refused = refused
        if refused:
            for field in self.fields.values():
                field.required = False
        self.rows_estimate = 0  # at most, told before reading: decides the background

    def clean_import_file(self) -> Any:
        file = self.cleaned_data["import_file"]
        if file is None:
            return file
        try:
            size_check(file.size)
        except FileRefused as error:
            raise forms.ValidationError(str(error)) from error
        return file

    def clean(self) -> dict[str, Any]:
        """What can be told of the file without reading its rows: an XLSX file's declared and
        counted rows and unpacked size (refused before anything is stored), at most how many
        rows a text file has."""
        data: dict[str, Any] = super().clean()
        if self.refused:
            self.add_error("import_file", self.refused)
            return data
        file, chosen = data.get("import_file"), data.get("format")
        if file is None or not chosen:
            return data
        file.seek(0)
        try:
            self.rows_estimate = rows_before_reading(file.read(), self.formats[int(chosen)]())
        except FileRefused as error:
            self.add_error("import_file", str(error))
        return data


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
            "max_rows": f"{max_rows():,}",
            "background_rows": f"{background_rows():,}",
            "import_templates": [
                (
                    resource.get_display_name(),
                    reverse(f"admin:{app}_{model}_import_template", args=[resource.name]),
                )
                for resource in self.resource_classes
            ],
        }

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The library's import page; a file of more than IMPORT_BACKGROUND_ROWS rows is
        previewed in the background instead, and a file refused (it cannot be read, or a row
        has an error) is not kept in the temporary storage, since it cannot be confirmed."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        upload = form.cleaned_data["import_file"] if form.is_bound and form.is_valid() else None
        if upload is not None and form.rows_estimate > background_rows():
            return self.preview_in_background(request, form)
        response: HttpResponse = super().import_action(request, **kwargs)
        # The library names the stored file on the upload (an error on the form drops the
        # upload from cleaned_data).
        stored = getattr(upload, "tmp_storage_name", "")
        context = getattr(response, "context_data", None) or {}
        if stored and not context.get("confirm_form"):
            ImportFileStorage(name=stored).remove()
        return response

    def write_to_tmp_storage(self, import_file: Any, input_format: Any) -> Any:
        # The library's joins the chunks one by one (a copy of all so far for each: seconds
        # at 20 MB).
        stored = self.get_tmp_storage_class()(
            encoding=None if input_format.is_binary() else self.from_encoding,
            read_mode=input_format.get_read_mode(),
            **self.get_tmp_storage_class_kwargs(),
        )
        stored.save(b"".join(import_file.chunks()))
        return stored

    def preview_in_background(self, request: HttpRequest, form: Any) -> HttpResponse:
        import_file = form.cleaned_data["import_file"]
        input_format = self.get_import_formats()[int(form.cleaned_data["format"])]()
        stored = self.write_to_tmp_storage(import_file, input_format)
        job = import_job_start(
            user=request.user,
            model=self.opts.label_lower,
            resource=self.choose_import_resource_class(form, request).name,
            stored_file=stored.name,
            file_name=import_file.name,
            file_format=input_format.get_extension(),
            date_format=form.cleaned_data.get("date_format") or "",
            rows_total=form.rows_estimate,
        )
        return HttpResponseRedirect(self.job_url(job))

    def job_url(self, job: ImportJob) -> str:
        app, model = self.get_model_info()
        return reverse(
            f"admin:{app}_{model}_import_job", args=[job.pk], current_app=self.admin_site.name
        )

    def import_job_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """A background import's page: its progress, refreshed every two seconds, until it is
        done; then what the import page shows in the request: the preview table with its
        confirm, or the file refused with why; a confirm done goes to the list with its
        message. Only who started the import sees it."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = ImportJob.objects.filter(
            pk=job_id, user=request.user.pk, model=self.opts.label_lower
        ).first()
        if job is None:
            raise Http404("No import of yours with this number here.")
        context: dict[str, Any] = {
            **self.get_import_context_data(),
            **self.admin_site.each_context(request),
            "title": "Import",
            "opts": self.model._meta,
            "job": job,
            "fields_list": [],
            "import_error_display": self.import_error_display,
            "rows_done": f"{job.rows_done:,}",
            "rows_total": f"{job.rows_total:,}",
        }
        request.current_app = self.admin_site.name
        template = ["admin/file_imports/import_job.html"]
        if not job.finished:
            return TemplateResponse(request, template, context)
        report = ImportReport.from_dict(job.report) if job.report else None
        if job.step == ImportJob.Step.CONFIRM and report is not None and report.applied:
            messages.success(request, report.summary())
            app, model = self.get_model_info()
            return HttpResponseRedirect(
                reverse(f"admin:{app}_{model}_changelist", current_app=self.admin_site.name)
            )
        if report is not None:
            context["result"] = result_of(report)
        if job.step == ImportJob.Step.PREVIEW and report is not None and report.ok:
            context["confirm_form"] = self.job_confirm_form(request, job)
        else:
            context["form"] = self.create_import_form(request)
        return TemplateResponse(request, template, context)

    def job_confirm_form(self, request: HttpRequest, job: ImportJob) -> Any:
        """The confirm form of a preview done in the background, signed as in the request."""
        formats = [f().get_extension() for f in self.get_import_formats()]
        names = [r.name for r in self.get_import_resource_classes(request)]
        return self.get_confirm_form_class(request)(
            initial={
                "import_file_name": job.stored_file,
                "original_file_name": job.file_name,
                "format": str(formats.index(job.file_format)),
                "resource": str(names.index(job.resource)),
                "date_format": job.date_format,
            },
            user_pk=request.user.pk,
        )

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The library's confirm; a file no longer in the temporary storage (confirmed twice,
        or left more than a day) is said so, where the library would fail with an error. A
        file previewed in the background is confirmed in the background."""
        stored = os.path.basename(str(request.POST.get("import_file_name", "")))
        preview = (
            ImportJob.objects.filter(
                step=ImportJob.Step.PREVIEW,
                stored_file=stored,
                user=request.user.pk,
                status=ImportJob.Status.DONE,
            ).first()
            if stored and request.method == "POST"
            else None
        )
        if (
            preview is not None
            and self.has_import_permission(request)
            and self.create_confirm_form(request).is_valid()
        ):
            return HttpResponseRedirect(self.job_url(import_job_confirm(preview=preview)))
        try:
            with transaction.atomic():
                confirm_lock(str(request.POST.get("import_file_name", "")))
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
        form_class = self.get_import_form_class(request)
        if request.method == "POST" and "confirm" in request.POST:
            # The confirm's page, refused: an empty form to upload the fixed file.
            return form_class(self.get_import_formats(), self.get_import_resource_classes(request))
        # One form a request: import_action looks at it before the library's page does.
        form = getattr(request, "_file_import_form", None)
        if form is None:
            form = form_class(
                self.get_import_formats(),
                self.get_import_resource_classes(request),
                refused=getattr(request, "import_upload_refused", ""),
                **self.get_import_form_kwargs(request),
            )
            request._file_import_form = form  # type: ignore[attr-defined]
        return form

    def get_urls(self) -> list[Any]:
        app, model = self.get_model_info()
        urls = super().get_urls()
        for url in urls:
            if getattr(url, "name", "") in (
                f"{app}_{model}_import",
                f"{app}_{model}_process_import",
            ):
                bounded_upload(url.callback)
        return [
            path(
                "import/template/<slug:resource>/",
                self.admin_site.admin_view(self.template_view),
                name=f"{app}_{model}_import_template",
            ),
            path(
                "import/job/<int:job_id>/",
                self.admin_site.admin_view(self.import_job_view),
                name=f"{app}_{model}_import_job",
            ),
            *urls,
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
