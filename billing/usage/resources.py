"""Usage quantities per account, metric and period: what the product measured."""

import copy
import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any, cast

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from billing.usage.models import MeterEvent, UsageQuantity
from billing.usage.selectors import metered_terms, not_in_stripe, usage_refusal
from billing.usage.services import usage_send_after_commit
from customers.resources import OwnAccountsResource
from customers.selectors import accounts_visible_to
from file_imports import cells
from file_imports.engine import (
    NEW,
    UNCHANGED,
    UPDATE,
    RowOutcome,
    duplicate_keys,
    refuse_read_only,
    save_with_history,
)
from file_imports.files import Table
from file_imports.permissions import AdminRules
from stripe_sync.writes import stripe_connected

FIELDS = ("period_end", "quantity")


class UsageResource(OwnAccountsResource):
    name = "usage"
    verbose_name = "usage quantities"
    columns = ("account", "metric", "period_start", "period_end", "quantity")
    required = columns
    permission = "billing.import_usagequantity"
    export_permission = "billing.export_usagequantity"

    def check_and_plan(self, table: Table) -> list[RowOutcome]:
        refs = {row["account"].strip() for _, row in table.rows}
        accounts = {
            a.external_ref: a for a in accounts_visible_to(self.user).filter(external_ref__in=refs)
        }
        terms = metered_terms(a.pk for a in accounts.values())
        check_in_stripe = stripe_connected()
        stored = {
            (u.account_id, u.metric, u.period_start): u
            for u in UsageQuantity.objects.select_for_update().filter(account__in=accounts.values())
        }
        # What the usage list and form let this person do: adding, changing, and the fields
        # they show read-only (those of a figure already sent to Stripe's meter).
        rules = self.admin_rules(UsageQuantity)
        outcomes, planned = [], []
        changing: list[tuple[RowOutcome, UsageQuantity]] = []
        for number, row in table.each_row():
            outcome = RowOutcome(number, "")
            ref, metric = cells.text(row["account"]), cells.text(row["metric"])
            account = accounts.get(ref)
            if account is None:
                outcome.error("account", self.unknown_account(ref))
            elif check_in_stripe and not account.stripe_customer_id:  # type: ignore[attr-defined]
                outcome.error(*not_in_stripe(ref))
            values: dict[str, Any] = {}
            for column, parse in (
                ("period_start", lambda c: cells.day(c, date_format=self.options.date_format)),
                ("period_end", lambda c: cells.day(c, date_format=self.options.date_format)),
                ("quantity", lambda c: cells.whole_number(c, delimiter=self.delimiter)),
            ):
                try:
                    values[column] = parse(row[column])
                except cells.CellError as error:
                    outcome.error(column, str(error))
                    continue
                if values[column] is None:
                    outcome.error(column, "is required.")
            start: date | None = values.get("period_start")
            end: date | None = values.get("period_end")
            outcome.key = f"{ref} {metric} {start or row['period_start'].strip()}"
            if start and end and end < start:
                outcome.error("period_end", f"the period ends {end}, before it starts {start}.")
            elif account is not None and start and end:
                refusal = usage_refusal(terms, account.pk, ref, metric, (start, end))
                if refusal:
                    outcome.error(*refusal)
            outcomes.append(outcome)
            if outcome.errors or account is None or start is None:
                continue
            record = stored.get((account.pk, metric, start))
            if record is None:
                if not rules.may_add():
                    outcome.error("period_start", rules.no_add)
                    continue
                record = UsageQuantity(account=account, metric=metric, period_start=start)
                outcome.action = NEW
            else:
                outcome.changes = {
                    f: (cells.as_text(getattr(record, f)), cells.as_text(values[f]))
                    for f in FIELDS
                    if getattr(record, f) != values[f]
                }
                outcome.action = UPDATE if outcome.changes else UNCHANGED
                if outcome.changes:
                    changing.append((outcome, copy.copy(record)))  # as stored, for the form
            for f in FIELDS:
                setattr(record, f, values[f])
            planned.append((outcome, record))
        self._refuse_beyond_the_form(rules, changing)
        duplicate_keys(outcomes, "period_start")
        self._overlaps(planned, stored)
        self.new = [r for o, r in planned if o.action == NEW]
        self.changed = [r for o, r in planned if o.action == UPDATE]
        return outcomes

    def _refuse_beyond_the_form(
        self, rules: AdminRules, changing: list[tuple[RowOutcome, UsageQuantity]]
    ) -> None:
        """Rows that change a figure the usage form would not let this person change, or a
        field it shows them read-only. The form asks whether each figure was sent to Stripe's
        meter: read here for all of them at once, not once a row."""
        for start in range(0, len(changing), 2000):
            prefetch_related_objects(
                [record for _, record in changing[start : start + 2000]],
                Prefetch("meter_events", queryset=MeterEvent.objects.only("pk", "usage_id")),
            )
        for outcome, record in changing:
            if not rules.may_change(record):
                outcome.error("period_start", rules.no_change)
                continue
            refuse_read_only(outcome, rules.read_only(record))

    def _overlaps(
        self, planned: list[tuple[RowOutcome, UsageQuantity]], stored: dict[Any, UsageQuantity]
    ) -> None:
        """Periods of one metric cannot overlap, in the file or with what is recorded."""
        spans: dict[tuple[int, str], list[tuple[date, date, RowOutcome | None]]] = {}
        in_file = {(r.account_id, r.metric, r.period_start) for _, r in planned}
        for key, record in stored.items():
            if key not in in_file:
                spans.setdefault(key[:2], []).append((record.period_start, record.period_end, None))
        for outcome, record in planned:
            spans.setdefault((record.account_id, record.metric), []).append(
                (record.period_start, record.period_end, outcome)
            )
        for group in spans.values():
            group.sort(key=lambda s: (s[0], s[1]))
            for (_, end, first), (start, _, second) in itertools.pairwise(group):
                if start <= end and (first or second):
                    row = cast(RowOutcome, second or first)
                    other = f"row {first.number}" if first else "usage already recorded"
                    row.error(
                        "period_start",
                        f"overlaps {other} (to {end}); periods of one metric cannot overlap.",
                    )

    def write(self) -> None:
        now = timezone.now()
        for record in [*self.new, *self.changed]:
            record.source, record.updated_at = self.options.source[:200], now
        save_with_history(
            UsageQuantity,
            self.new,
            self.changed,
            [*FIELDS, "source", "updated_at"],
            user=self.user,
            reason=self.reason,
        )
        usage_send_after_commit(r.pk for r in [*self.new, *self.changed])

    def export_rows(self, queryset: Any) -> Iterator[list[Any]]:
        for usage in queryset.select_related("account"):
            yield [
                usage.account.external_ref,
                usage.metric,
                usage.period_start,
                usage.period_end,
                usage.quantity,
            ]

    def template_rows(self) -> list[list[str]]:
        return [
            ["CRM-0038", "storage_gb", "2026-03-01", "2026-03-31", "14000"],
            ["CRM-0038", "storage_gb", "2026-04-01", "2026-04-30", "9500"],
        ]
