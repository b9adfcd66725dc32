"""Where an uploaded file waits between its preview and its confirmation: django-import-export's
MediaStorage, on the STORAGES["import_export"] backend (a folder every web process of the
server reads; a bucket when there are several servers), so that the confirm may reach another
process than the preview did. The library removes a file once imported; files a preview left
behind (refused, or never confirmed) are removed after a day by the next upload."""

import os
from datetime import timedelta

from django.utils import timezone
from import_export.tmp_storages import MediaStorage

from backoffice.database import one_writer_at_a_time

KEPT = timedelta(days=1)


class ImportFileStorage(MediaStorage):
    def save(self, data: bytes) -> None:
        super().save(data)
        self.purge()

    def purge(self) -> None:
        folder = self.MEDIA_FOLDER or ""
        try:
            _, names = self._storage.listdir(folder)
        except (FileNotFoundError, NotImplementedError):
            return
        cutoff = timezone.now() - KEPT
        for name in names:
            path = os.path.join(folder, name)
            try:
                if self._storage.get_modified_time(path) < cutoff:
                    self._storage.delete(path)
            except (FileNotFoundError, NotImplementedError):
                continue


def confirm_lock(stored_name: str) -> None:
    """Two confirms of one stored file at once (a double click, two tabs; in the request or in
    a background import) run one after the other: the second then finds the file gone (the
    first imported it and removed it) and is told so, where both would import and the second
    fail on the first's new rows. A lock held until the confirm's transaction ends; SQLite has
    one writer at a time anyway."""
    if stored_name:
        one_writer_at_a_time("import:" + stored_name)
