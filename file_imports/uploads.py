"""Uploads to the import pages, bounded before they are read.

A file to import is refused over IMPORT_MAX_FILE_BYTES before Django reads it:

- from the request's headers: a Content-Length over the limit (and the form's few other fields)
  is answered with a page that says so, its body never read; a multipart request without a
  Content-Length likewise (Django's WSGI handler reads no body without one, so a chunked upload
  would reach the form empty);
- while it streams: the first upload handler counts the file's bytes as they arrive and stops
  the upload once they pass the limit, the part received deleted with its temporary file, the
  rest of the body read and dropped (at most FORM_ALLOWANCE, the Content-Length having been
  checked); the import form then says why.

The views are the import and confirm pages of FileImportExportMixin (marked by
`bounded_upload`). Why a middleware: CsrfViewMiddleware reads request.POST (so the whole body)
in its process_view, before any view or decorator of the view runs, and upload handlers must be
in place before the body is read. This middleware sits before it in MIDDLEWARE; its
process_view runs first, once the URL is resolved, so it refuses or equips only the import
pages. FILE_UPLOAD_HANDLERS would put the import's limit on every upload of the site, and
csrf_exempt with csrf_protect inside would leave the admin's own CSRF wrapping (admin_view)
to be undone.
"""

from collections.abc import Callable
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponseBase
from django.urls import NoReverseMatch, reverse

from backoffice.errors import error_page
from file_imports.files import max_upload_bytes, size_refusal, size_text

# The import form's other fields and the multipart framing: allowed on top of the file's limit
# when a request is judged by its Content-Length (the form's fields take under a kilobyte).
FORM_ALLOWANCE = 64 * 1024


def bounded_upload(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose uploads UploadLimitMiddleware bounds."""
    view.file_import_upload = True  # type: ignore[attr-defined]
    return view


class UploadLimitHandler(FileUploadHandler):
    """First of the request's upload handlers: passes the file on, a chunk at a time, to the
    usual ones (memory, then a temporary file), and stops the upload once it passes the limit."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.request.import_upload_refused = size_refusal(  # type: ignore[union-attr]
                f"more than {size_text(self.limit)}"
            )
            # The temporary file of the part received is closed, so deleted; the rest of the
            # body is read and dropped, so that the browser gets the page.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the handlers after this one make the file


class UploadLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if request.method != "POST" or not getattr(view, "file_import_upload", False):
            return None
        limit = max_upload_bytes()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or "")
        except ValueError:
            length = -1
        if length < 0 and request.content_type == "multipart/form-data":
            return self.refused(
                request,
                "The upload did not say its size (no Content-Length header), so it was not "
                "read. Send the file again from the import page.",
                status=411,
            )
        if length > limit + FORM_ALLOWANCE:
            return self.refused(request, size_refusal(size_text(length)), status=413)
        request.upload_handlers.insert(0, UploadLimitHandler(request, limit))
        return None

    @staticmethod
    def refused(request: HttpRequest, reason: str, *, status: int) -> HttpResponseBase:
        match = request.resolver_match
        back = ""
        if match is not None and match.url_name:
            # The import page, also when the confirm was posted.
            name = match.url_name.removesuffix("_process_import").removesuffix("_import")
            try:
                back = reverse(f"{match.namespace}:{name}_import")
            except NoReverseMatch:
                back = ""
        return error_page(
            request,
            "admin/file_imports/upload_refused.html",
            status=status,
            title="File not imported",
            reason=reason,
            back=back,
            limit=size_text(max_upload_bytes()),
        )
