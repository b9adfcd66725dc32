"""What an import may do to a record: what the admin's page lets the same person do with it.

The rules are not written again here: each is asked of the ModelAdmin registered for the model
(or of the inline its page edits the model in) with a request of the person importing, so an
import obeys exactly the records the admin shows them (get_queryset), what it lets them add
(has_add_permission), change (has_change_permission, per record: a contract no longer a draft
is read-only) and remove (has_delete_permission), and the fields it shows them read-only
(get_readonly_fields, per record: an account manager's `account_manager`). A row that would do
more is an error naming its column and the rule, and then nothing of the file is imported.
"""

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.http import HttpRequest

READ_ONLY = "you may not change this field (your role sees it read-only)"


class AdminRules:
    """One model's admin (or inline), asked on behalf of one person."""

    def __init__(self, model_admin: Any, user: Any) -> None:
        self.model_admin = model_admin
        self.user = user
        self.request = HttpRequest()
        self.request.user = user
        self.is_inline = isinstance(model_admin, InlineModelAdmin)
        self.opts = model_admin.model._meta
        self._answers: dict[tuple[str, int], tuple[Any, bool]] = {}

    @classmethod
    def of(cls, model: Any, user: Any) -> "AdminRules":
        """The rules of the model's page in the admin (the one registered for it)."""
        return cls(admin.site.get_model_admin(model), user)

    def inline(self, model: Any) -> "AdminRules":
        """The rules of the inline this page edits `model` in (a contract's lines, a line's
        phases, an account's contacts)."""
        for inline_class in self.model_admin.inlines:
            if inline_class.model is model:
                return AdminRules(
                    inline_class(self.model_admin.model, self.model_admin.admin_site), self.user
                )
        raise LookupError(f"{self.opts.label}'s admin edits no {model._meta.label} inline.")

    # For an inline, `parent` is the record whose page shows it (as the admin asks). Each
    # question is asked once per record for the file (a contract's lines all ask of their
    # contract): the answers are of the records as they are while the file is checked.

    def may_add(self, parent: Any = None) -> bool:
        if self.is_inline:
            return self._ask(
                "add", parent, lambda: self.model_admin.has_add_permission(self.request, parent)
            )
        return self._ask("add", None, lambda: self.model_admin.has_add_permission(self.request))

    def may_change(self, record: Any) -> bool:
        return self._ask(
            "change", record, lambda: self.model_admin.has_change_permission(self.request, record)
        )

    def may_delete(self, record: Any) -> bool:
        return self._ask(
            "delete", record, lambda: self.model_admin.has_delete_permission(self.request, record)
        )

    def _ask(self, question: str, record: Any, answer: Callable[[], Any]) -> bool:
        # Kept with its record, so that the id is not another record's later.
        key = (question, id(record))
        if key not in self._answers:
            self._answers[key] = (record, bool(answer()))
        return self._answers[key][1]

    def shown(self, pks: Iterable[Any]) -> set[Any]:
        """Of these records, those the admin shows this person (its list and pages)."""
        queryset = self.model_admin.get_queryset(self.request)
        wanted, shown = list(pks), set()
        for start in range(0, len(wanted), 2000):  # within every database's limit of parameters
            chunk = wanted[start : start + 2000]
            shown |= set(queryset.filter(pk__in=chunk).values_list("pk", flat=True))
        return shown

    def read_only(self, record: Any) -> set[str]:
        """The fields the record's form shows read-only to this person (None: the add form)."""
        return set(self.model_admin.get_readonly_fields(self.request, record))

    # What a row is told.

    @property
    def no_add(self) -> str:
        return f"you may not add {self.opts.verbose_name_plural}."

    @property
    def no_change(self) -> str:
        return f"you may not change this {self.opts.verbose_name} (your role sees it read-only)."

    @property
    def no_delete(self) -> str:
        return f"you may not remove {self.opts.verbose_name_plural}."


def read_only_columns(
    read_only: Collection[str], changed: Iterable[str], fields: Mapping[str, str] | None = None
) -> list[str]:
    """The changed columns whose field is read-only (`fields` maps columns to fields where
    their names differ)."""
    return [c for c in changed if (fields or {}).get(c, c) in read_only]
