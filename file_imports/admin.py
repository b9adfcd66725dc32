"""Import and export screens for the admin's lists: upload, preview, confirm; download.

A domain's ModelAdmin takes FileImportExportMixin and names its resources; the screens are the
same for every kind of file."""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from file_imports.engine import ImportOptions, Resource, export_file, run_import, template_file
from file_imports.files import max_upload_bytes
from file_imports.models import ImportUpload

DATE_FORMATS = [
    ("", "YYYY-MM-DD (ISO) only"),
    ("%d/%m/%Y", "DD/MM/YYYY (day first)"),
    ("%m/%d/%Y", "MM/DD/YYYY (month first)"),
    ("%d.%m.%Y", "DD.MM.YYYY"),
]
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV (comma or semicolon, UTF-8 or Windows-1252) or XLSX.")
    date_format = forms.ChoiceField(
        choices=DATE_FORMATS,
        required=False,
        help_text="How the file writes dates, when not as 2026-04-03.",
    )


class FileImportExportMixin:
    """For a ModelAdmin: import, export and templates on its list, for each of its resources
    (contracts have two: the contracts' terms, and their lines)."""

    import_resources: tuple[type[Resource], ...]
    change_list_template = "admin/file_import_change_list.html"

    def _names(self) -> tuple[str, str]:
        opts = self.opts  # type: ignore[attr-defined]
        return opts.app_label, opts.model_name

    def _resource(self, name: str) -> type[Resource]:
        for resource in self.import_resources:
            if resource.name == name:
                return resource
        raise Http404(f"No import of {name} here.")

    def get_urls(self) -> list[Any]:
        site = self.admin_site  # type: ignore[attr-defined]
        app, model = self._names()
        return [
            path(
                "import/<slug:resource>/",
                site.admin_view(self.import_view),
                name=f"{app}_{model}_import",
            ),
            path(
                "export/<slug:resource>/",
                site.admin_view(self.export_view),
                name=f"{app}_{model}_export",
            ),
            path(
                "import/<slug:resource>/template/",
                site.admin_view(self.template_view),
                name=f"{app}_{model}_import_template",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        app, model = self._names()
        files = [
            {
                "name": resource.verbose_name,
                "import_url": reverse(f"admin:{app}_{model}_import", args=[resource.name])
                if request.user.has_perm(resource.permission)
                else "",
                "export_url": reverse(f"admin:{app}_{model}_export", args=[resource.name])
                if request.user.has_perm(resource.export_permission)
                else "",
            }
            for resource in self.import_resources
        ]
        context = {"import_files": files, **(extra_context or {})}
        return super().changelist_view(request, context)  # type: ignore[misc]

    def import_view(self, request: HttpRequest, resource: str) -> HttpResponse:
        resource_class = self._resource(resource)
        if not request.user.has_perm(resource_class.permission):
            raise PermissionDenied
        app, model = self._names()
        form, report, upload = ImportForm(), None, None
        if request.method == "POST" and "confirm" in request.POST:
            upload = get_object_or_404(
                ImportUpload,
                pk=request.POST.get("upload"),
                uploaded_by=request.user,
                resource=resource_class.name,
            )
            report = run_import(
                resource_class,
                bytes(upload.data),
                user=request.user,
                filename=upload.filename,
                dry_run=False,
                options=ImportOptions(date_format=upload.date_format, source=upload.filename),
            )
            # Imported, or refused for what changed since the preview (then fixed and uploaded
            # again): either way this upload is done with.
            upload.delete()
            if report.applied:
                messages.success(request, report.summary())
                return HttpResponseRedirect(reverse(f"admin:{app}_{model}_changelist"))
            upload = None
        elif request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                report, upload = self._preview(request, resource_class, form)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "opts": self.opts,  # type: ignore[attr-defined]
            "title": f"Import {resource_class.verbose_name}",
            "form": form,
            "report": report,
            "upload": upload,
            "columns": resource_class.columns,
            "required": resource_class.required,
            "template_url": reverse(
                f"admin:{app}_{model}_import_template", args=[resource_class.name]
            ),
            "max_size_mb": max_upload_bytes() // (1024 * 1024),
        }
        return TemplateResponse(request, "admin/file_import.html", context)

    def _preview(
        self, request: HttpRequest, resource_class: type[Resource], form: ImportForm
    ) -> tuple[Any, Any]:
        file = form.cleaned_data["file"]
        data = file.read(max_upload_bytes() + 1)  # one byte more tells it is too large
        ImportUpload.objects.filter(uploaded_at__lt=timezone.now() - timedelta(days=1)).delete()
        date_format = form.cleaned_data.get("date_format") or ""
        report = run_import(
            resource_class,
            data,
            user=request.user,
            filename=file.name,
            options=ImportOptions(date_format=date_format, source=file.name),
        )
        if not report.ok:
            return report, None
        upload = ImportUpload.objects.create(
            resource=resource_class.name,
            filename=file.name[:255],
            data=data,
            date_format=date_format,
            uploaded_by=request.user,  # type: ignore[misc]  # the admin's views need a login
        )
        return report, upload

    def export_view(self, request: HttpRequest, resource: str) -> HttpResponse:
        resource_class = self._resource(resource)
        file_format = request.GET.get("format", "csv")
        if file_format not in CONTENT_TYPES:
            file_format = "csv"
        queryset = self.get_queryset(request)  # type: ignore[attr-defined]
        data = export_file(resource_class, queryset, user=request.user, file_format=file_format)
        name = f"{resource_class.name}-{timezone.localdate():%Y-%m-%d}.{file_format}"
        return _download(data, name, file_format)

    def template_view(self, request: HttpRequest, resource: str) -> HttpResponse:
        resource_class = self._resource(resource)
        if not request.user.has_perm(resource_class.permission):
            raise PermissionDenied
        file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
        data = template_file(resource_class, file_format=file_format)
        return _download(data, f"{resource_class.name}-template.{file_format}", file_format)


def _download(data: bytes, name: str, file_format: str) -> HttpResponse:
    return HttpResponse(
        data,
        content_type=CONTENT_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
