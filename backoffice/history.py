"""The history of a record: who changed it (a person, or nobody for the system) and why."""

from typing import Any


def history_save(record: Any, *, by: Any, why: str, **save: Any) -> None:
    """Save `record` with its history entry naming `by` (None: the system) and `why`."""
    record._change_reason = why  # what django-simple-history reads
    record._history_user = by if getattr(by, "pk", None) else None
    record.save(**save)
