"""Uploaded files are kept in memory only, never spooled to a temporary file.

Django writes an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE to the temporary directory, where a watch-list
image, a signage photo (which may show passers-by) or a frame would sit unencrypted for the length of the request,
and for good if the process were killed. `MemoryUploadHandler` (the only handler in FILE_UPLOAD_HANDLERS) keeps
each file in memory up to a limit and one byte past it, and reads and discards the rest, so that the view can
still answer, naming the file. An uploaded file's `size` is its true size; `truncated` says that it (or the
request's files together) went past a limit, and `require_complete` turns that into a clear refusal.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _

from lfr_portal.errors import ServiceError


class UploadTooLarge(ServiceError):
    status_code = 413
    default_code = "upload_too_large"


class MemoryUploadHandler(FileUploadHandler):
    """Keeps each uploaded file in memory: at most `limit` bytes of one file plus one, and at most `total` bytes of
    all of a request's files plus one (both LFR_MAX_UPLOAD_BYTES unless given)."""

    def __init__(self, request: Any = None, *, limit: int | None = None, total: int | None = None) -> None:
        super().__init__(request)
        self.limit = settings.LFR_MAX_UPLOAD_BYTES if limit is None else limit
        self.total = settings.LFR_MAX_UPLOAD_BYTES if total is None else total
        self.kept_in_request = 0
        self.seen_in_request = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.seen = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.seen += len(raw_data)
        self.seen_in_request += len(raw_data)
        room = min(self.limit + 1 - self.buffer.tell(), self.total + 1 - self.kept_in_request)
        if room > 0:
            kept = raw_data[:room]  # one byte past a limit is enough to refuse the file as too large
            self.buffer.write(kept)
            self.kept_in_request += len(kept)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        uploaded = InMemoryUploadedFile(
            self.buffer, self.field_name, self.file_name, self.content_type, self.seen, self.charset
        )
        # Over a limit, even by the one byte kept past it: refused like a file cut short.
        uploaded.truncated = self.seen > self.limit or self.seen_in_request > self.total
        return uploaded


def require_complete(files: Iterable[Any]) -> None:
    """Refuse (413 `upload_too_large`) when the request's files were larger than the handler kept, naming them."""
    files = list(files)
    cut = [f.name for f in files if getattr(f, "truncated", False)]
    if cut:
        size = sum(f.size for f in files)
        raise UploadTooLarge(
            _("The upload is %(n)s bytes (%(names)s too large); at most %(max)s bytes are accepted at once.")
            % {"n": f"{size:,}", "names": ", ".join(cut), "max": f"{settings.LFR_MAX_UPLOAD_BYTES:,}"},
            details={"files": cut},
        )


def limit_refusal(exc: BaseException) -> ServiceError | None:
    """Django's own refusals of a request's size, as our refusals with a clear message (None for anything else):
    more files than DATA_UPLOAD_MAX_NUMBER_FILES, or a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    from django.core.exceptions import RequestDataTooBig, TooManyFilesSent

    if isinstance(exc, TooManyFilesSent):
        return ServiceError(
            _("At most %(n)s files can be uploaded at once; put more images in one zip archive.")
            % {"n": settings.LFR_MAX_UPLOAD_FILES},
            code="too_many_files",
        )
    if isinstance(exc, RequestDataTooBig):
        return UploadTooLarge(
            _("The request is larger than %(max)s bytes.") % {"max": f"{settings.LFR_MAX_UPLOAD_BYTES:,}"}
        )
    return None
