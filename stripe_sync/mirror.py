"""Write Stripe objects into dj-stripe's mirror tables, in batches, newest state only.

dj-stripe's own `sync_from_stripe_data` writes one object at a time and fetches every related
object from Stripe as it goes. Here a batch of objects (a list page, or one event's object)
becomes one upsert per table: foreign keys are linked to rows already mirrored, a required one
that is missing is fetched once, and nested objects (invoice lines, subscription items, tax
IDs) are written as their own rows. `StripeObjectVersion` keeps, per object, the moment of the
state written, so an older snapshot never overwrites a newer one and a deleted object stays
deleted. Nothing here calls dj-stripe's sync code, which would store the secret key.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, partial
from typing import Any

import orjson
import stripe
from django.db import connection, models, transaction
from django.db.models.fields.json import KT
from django.utils import timezone
from djstripe.models import Account, Customer
from djstripe.utils import convert_tstamp

from stripe_sync.client import StripeApi, is_missing
from stripe_sync.models import StripeObjectVersion
from stripe_sync.object_types import (
    BY_KEY,
    MODELLED_TYPES,
    Nested,
    ObjectType,
    dig,
    object_type,
    plain_columns,
    references,
    stripe_id_of,
)

logger = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The account each API key belongs to, per process: one GET /v1/account per worker, not per
# event.
_OWNER_ACCOUNTS: dict[str, str] = {}


def read_stamp() -> datetime:
    """The moment a read from Stripe is stamped with: when it was asked, to the second.

    Stripe stamps events to the second, so a read is compared at the same resolution: an
    event from the same second as a read is a tie, settled by reading the object again.
    """
    return timezone.now().replace(microsecond=0)


@dataclass
class WriteResult:
    written: int = 0
    skipped_stale: int = 0
    # Same moment as the stored state but maybe different content: only a re-read can tell.
    tied: list[str] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: "WriteResult") -> None:
        self.written += other.written
        self.skipped_stale += other.skipped_stale
        for key, n in other.by_type.items():
            self.by_type[key] += n


class Mirror:
    """One engine run's view of the mirror: its Stripe connection and owner account."""

    def __init__(self, api: StripeApi | None = None) -> None:
        self._api = api
        self._owner_account_id: str | None = None

    @property
    def api(self) -> StripeApi:
        if self._api is None:
            self._api = StripeApi()
        return self._api

    # --- the Stripe account that owns every mirrored object

    def owner_account_id(self) -> str:
        if self._owner_account_id is None:
            known = _OWNER_ACCOUNTS.get(self.api.key_fingerprint)
            if known and Account.objects.filter(id=known).exists():
                self._owner_account_id = known
            else:
                data = self.api.get("/v1/account")
                values = _row_values(_ACCOUNT_TYPE, data, owner_account_id=None)
                Account.objects.update_or_create(id=data["id"], defaults=values)
                self._owner_account_id = _OWNER_ACCOUNTS[self.api.key_fingerprint] = data["id"]
        return self._owner_account_id

    # --- writing

    @transaction.atomic
    def write(
        self,
        ot: ObjectType,
        objects: list[dict[str, Any]],
        *,
        observed_at: datetime,
        wins_ties: bool = False,
    ) -> WriteResult:
        """Upsert `objects` of type `ot` (as Stripe sent them at `observed_at`) and their
        nested objects, whole or not at all."""
        result = WriteResult()
        if not objects:
            return result
        if ot.versioned:
            fresh, first_seen, result.tied, result.skipped_stale = _claim(
                ot, [o["id"] for o in objects], observed_at, wins_ties=wins_ties
            )
            objects = [o for o in objects if o["id"] in fresh]
            if ot.retrieve_path:
                # Two states from the same second: only Stripe knows which is the newer one.
                for stripe_id in result.tied:
                    result.add(self.refresh(ot, stripe_id))
        else:
            # Only ever written inside a parent (invoice lines), whose claim was won.
            first_seen = set()
        if not objects:
            return result
        if ot.model is None:
            # Kept by a domain, not in dj-stripe's tables: the newer states are handed over.
            if ot.mirrored is not None:
                ot.mirrored.send(objects)
            result.written = len(objects)
            result.by_type[ot.key] += len(objects)
            return result
        # Shallow copies: only the top level and the holders of nested objects are changed.
        objects = [dict(o) for o in objects]
        nested, listed = self._take_nested(ot, objects)
        targets = _existing_targets(ot, objects)
        self._ensure_required_targets(ot, objects, targets)
        self._upsert(ot, objects, targets, owner=self.owner_account_id())
        if ot.mirrored is not None:
            ot.mirrored.send(objects)
        result.written = len(objects)
        result.by_type[ot.key] += len(objects)
        for child_key, children in nested.items():
            result.add(self.write(BY_KEY[child_key], children, observed_at=observed_at))
        self._drop_children_gone(nested, listed, first_seen)
        if ot.linked:
            linked_key, ids_of = ot.linked
            ids = set().union(*(ids_of(o) for o in objects))
            result.add(self.fetch_missing(BY_KEY[linked_key], ids))
        return result

    @transaction.atomic
    def mark_deleted(self, ot: ObjectType, data: dict[str, Any], *, observed_at: datetime) -> None:
        """Stripe deleted the object: keep its row (finance history) flagged as deleted."""
        stripe_id = data["id"]
        _lock_versions(ot, [stripe_id])
        if ot.model is None:
            _versions_mark_deleted(ot, [stripe_id], observed_at)
            return
        purged = {"date_purged": observed_at} if _has_date_purged(ot) else {}
        row = ot.model.objects.filter(id=stripe_id).first()
        if row is not None:
            row_data = {**row.stripe_data, **data, "deleted": True}
            ot.model.objects.filter(id=stripe_id).update(stripe_data=row_data, **purged)
        elif not any(not ot.model._meta.get_field(r.field).null for r in references(ot)):
            # Never mirrored: a placeholder, so that what refers to it (an invoice of a customer
            # deleted since) can still be mirrored.
            placeholder = [{**data, "deleted": True}]
            self._upsert(
                ot,
                placeholder,
                _existing_targets(ot, placeholder),
                owner=self.owner_account_id(),
            )
            if purged:
                ot.model.objects.filter(id=stripe_id).update(**purged)
        _versions_mark_deleted(ot, [stripe_id], observed_at)

    def fetch_missing(self, ot: ObjectType, ids: set[str]) -> WriteResult:
        """Fetch, one by one, objects no list reaches and the mirror does not hold yet."""
        result = WriteResult()
        have = set(_ids_in_mirror(ot.model, ids)) if ids else set()
        for stripe_id in sorted(ids - have):
            result.add(self.refresh(ot, stripe_id))
        return result

    def refresh(self, ot: ObjectType, stripe_id: str, *, missing_ok: bool = True) -> WriteResult:
        """Re-read one object from Stripe and write what it says now (an object Stripe no
        longer has is mirrored as deleted, unless `missing_ok` is False: then it raises)."""
        observed_at = read_stamp()
        try:
            data = self.api.get(ot.retrieve_path.format(id=stripe_id))
        except stripe.StripeError as error:
            if not missing_ok or not is_missing(error):
                raise
            data = {"id": stripe_id, "object": ot.stripe_object, "deleted": True}
        if data.get("deleted"):
            self.mark_deleted(ot, data, observed_at=observed_at)
            return WriteResult()
        # What Stripe says now settles a same-second tie.
        return self.write(ot, [data], observed_at=observed_at, wins_ties=True)

    # --- the parts of a write

    def _take_nested(
        self, ot: ObjectType, objects: list[dict[str, Any]]
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[tuple[str, str], list[str]]]:
        """Lift nested objects out of each payload (fetching the rest of long lists); and,
        per child type and parent key, the parents whose whole list was read."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        listed: dict[tuple[str, str], list[str]] = defaultdict(list)
        for nested in ot.nested:
            *parent_path, last = nested.path
            for obj in objects:
                holder = self._holder(obj, parent_path)
                if holder is None:
                    continue
                value = holder.get(last)
                if isinstance(value, dict) and value.get("object") == "list":
                    children = list(value.get("data") or [])
                    if value.get("has_more") and nested.more_path:
                        children = self._rest_of_list(nested, obj["id"], children)
                    if nested.parent_key:
                        children = [
                            c if c.get(nested.parent_key) else {**c, nested.parent_key: obj["id"]}
                            for c in children
                        ]
                        if not value.get("has_more") or nested.more_path:
                            listed[nested.object_type, nested.parent_key].append(obj["id"])
                    found[nested.object_type].extend(children)
                    if nested.drop_from_parent:
                        del holder[last]
                elif isinstance(value, dict) and "id" in value:
                    # An expanded object: mirrored as its own row, the parent keeps the id.
                    found[nested.object_type].append(value)
                    holder[last] = value["id"]
        return found, listed

    @staticmethod
    def _drop_children_gone(
        nested: dict[str, list[dict[str, Any]]],
        listed: dict[tuple[str, str], list[str]],
        first_seen: set[str],
    ) -> None:
        """A parent sent with its whole list of children (an invoice and all its lines) no
        longer has the children missing from it: a line removed from a draft (its invoice
        item deleted) leaves the mirror too, in one statement per type. A parent seen for the
        first time has no children in the mirror yet (a backfill's every page): nothing to
        look for."""
        for (child_key, parent_key), all_parents in listed.items():
            parent_ids = [i for i in all_parents if i not in first_seen]
            if not parent_ids:
                continue
            keep = [child["id"] for child in nested.get(child_key, [])]
            BY_KEY[child_key].model.objects.filter(
                **{f"stripe_data__{parent_key}__in": parent_ids}
            ).exclude(id__in=keep).delete()

    @staticmethod
    def _holder(obj: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
        """The dict at `path` inside `obj`, copied on the way so the caller's payload stays as
        Stripe sent it; None if the path is absent."""
        holder = obj
        for key in path:
            inner = holder.get(key)
            if not isinstance(inner, dict):
                return None
            holder[key] = holder = dict(inner)
        return holder

    def _rest_of_list(
        self, nested: Nested, parent_id: str, first: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        params = {k: v.format(id=parent_id) for k, v in nested.more_params}
        children = list(first)
        for page in self.api.list_pages(
            nested.more_path.format(id=parent_id), starting_after=first[-1]["id"], **params
        ):
            children.extend(page["data"])
        return children

    def _ensure_required_targets(
        self,
        ot: ObjectType,
        objects: list[dict[str, Any]],
        targets: dict[str, dict[str | None, Any]],
    ) -> None:
        """A NOT NULL foreign key (an invoice's customer) needs its row: fetch it if absent,
        and add it to `targets`."""
        for ref in references(ot):
            if ot.model._meta.get_field(ref.field).null:
                continue
            ids = {stripe_id_of(dig(o, ref.path)) for o in objects} - {None}
            missing = ids - set(targets[ref.field])
            if not missing:
                continue
            target = BY_KEY[ref.object_type]
            for stripe_id in sorted(missing):  # type: ignore[type-var]
                self.refresh(target, stripe_id)  # type: ignore[arg-type]
            targets[ref.field].update(
                _ids_in_mirror(target.model, missing, _to_field(ot, ref.field))
            )

    def _upsert(
        self,
        ot: ObjectType,
        objects: list[dict[str, Any]],
        existing_refs: dict[str, dict[str | None, Any]],
        *,
        owner: str,
    ) -> None:
        kept = _kept_fields(ot, objects)
        now = timezone.now()
        statement = _upsert_statement(ot)
        rows = []
        for obj in objects:
            for key, value in kept.get(obj["id"], {}).items():
                obj.setdefault(key, value)
            values = _row_values(ot, obj, owner_account_id=owner)
            values["djstripe_created"] = values["djstripe_updated"] = now
            for ref in references(ot):
                # None when the target is not mirrored yet: `relink` links it once it is.
                target_key = existing_refs[ref.field].get(stripe_id_of(dig(obj, ref.path)))
                values[ot.model._meta.get_field(ref.field).attname] = target_key
            rows.append(
                [
                    values[f.attname] if f.attname in values else f.get_default()
                    for f in statement.fields
                ]
            )
        with connection.cursor() as cursor:
            if statement.page_sql:
                # The whole page as one JSON document and one statement: PostgreSQL turns it
                # into rows itself. Sent row by row, the driver's work per row cost more than
                # the database's.
                columns = [f.column for f in statement.fields]
                page = [dict(zip(columns, row, strict=True)) for row in rows]
                cursor.execute(statement.page_sql, [_json_page(page)])
            else:
                # One prepared statement, rows sent together: Django's bulk_create builds and
                # parses one huge statement per batch, several times slower.
                preps = statement.preps
                params = [[p(v) for p, v in zip(preps, row, strict=True)] for row in rows]
                cursor.executemany(statement.row_sql, params)


# Account is written once per run, through the same row builder.
_ACCOUNT_TYPE = ObjectType("account", "Account", Account, "account")


def _row_values(
    ot: ObjectType, data: dict[str, Any], *, owner_account_id: str | None
) -> dict[str, Any]:
    values: dict[str, Any] = {"stripe_data": data}
    if owner_account_id is not None:
        values["djstripe_owner_account_id"] = owner_account_id
    for f in plain_columns(ot):
        if f.name == "stripe_data":
            continue
        if f.name == "created":
            value: Any = convert_tstamp(data.get("created"))
        elif hasattr(f, "stripe_to_db"):
            value = f.stripe_to_db(data)
        else:
            value = data.get(f.name)
        if value is None and isinstance(f, models.CharField | models.TextField) and not f.null:
            value = ""
        values[f.name] = value
    return values


@dataclass(frozen=True)
class _UpsertStatement:
    fields: list[Any]
    # INSERT ... VALUES (one row) ON CONFLICT DO UPDATE, and what turns each value into a
    # parameter (SQLite).
    row_sql: str
    preps: list[Callable[[Any], Any]]
    # PostgreSQL: the same for a page of rows sent as one JSON array.
    page_sql: str


@cache
def _upsert_statement(ot: ObjectType) -> _UpsertStatement:
    """INSERT ... ON CONFLICT DO UPDATE for the type's table, with its columns in order."""
    qn = connection.ops.quote_name
    fields = [f for f in ot.model._meta.concrete_fields if f.name != "djstripe_id"]
    # Columns the mirror does not own keep their value on update (dj-stripe's `subscriber`).
    not_ours = {"djstripe_id", "djstripe_created", "subscriber", "date_purged", *ot.unique_fields}
    columns = ", ".join(qn(f.column) for f in fields)
    updates = ", ".join(
        f"{qn(f.column)} = EXCLUDED.{qn(f.column)}" for f in fields if f.name not in not_ours
    )
    conflict = ", ".join(qn(ot.model._meta.get_field(n).column) for n in ot.unique_fields)
    insert = f"INSERT INTO {qn(ot.model._meta.db_table)} ({columns}) "
    on_conflict = f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    page_sql = ""
    if connection.vendor == "postgresql":
        record = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
        page_sql = (
            f"{insert}SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) "  # noqa: S608
            f"AS page({record}){on_conflict}"
        )
    return _UpsertStatement(
        fields=fields,
        row_sql=f"{insert}VALUES ({', '.join(['%s'] * len(fields))}){on_conflict}",
        # SQLite needs Django's own conversions (its datetime format, JSON as text).
        preps=[partial(f.get_db_prep_save, connection=connection) for f in fields],
        page_sql=page_sql,
    )


def _json_page(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON array, with orjson: the stdlib's encoder took a sixth of a backfill's
    time. Amounts stored as decimals are written as strings, which PostgreSQL reads exactly."""
    return orjson.dumps(rows, default=_json_default).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _has_date_purged(ot: ObjectType) -> bool:
    # dj-stripe's Customer marks a deletion with a date as well.
    return any(f.name == "date_purged" for f in ot.model._meta.concrete_fields)


def _existing_targets(
    ot: ObjectType, objects: list[dict[str, Any]]
) -> dict[str, dict[str | None, Any]]:
    """Per foreign key, the referenced objects the mirror holds: Stripe id -> the key the
    foreign key stores (the Stripe id, or for some dj-stripe keys the row's djstripe_id)."""
    found: dict[str, dict[str | None, Any]] = {}
    for ref in references(ot):
        ids = {stripe_id_of(dig(o, ref.path)) for o in objects} - {None}
        target = BY_KEY[ref.object_type].model
        to_field = _to_field(ot, ref.field)
        found[ref.field] = _ids_in_mirror(target, ids, to_field) if ids else {}
    return found


def _ids_in_mirror(model: Any, ids: set[Any], to_field: str = "id") -> dict[str | None, Any]:
    """Which of `ids` the model's table holds: Stripe id -> `to_field`. The ids travel as one
    parameter (see `_id_list`)."""
    qn = connection.ops.quote_name
    source, param = _id_list(sorted(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.{qn('id')}, t.{qn(to_field)} FROM {qn(model._meta.db_table)} t "  # noqa: S608
            f"JOIN ({source}) AS ids ON ids.id = t.{qn('id')}",
            [param],
        )
        return dict(cursor.fetchall())


def _id_list(ids: list[str]) -> tuple[str, Any]:
    """A list of ids as one SQL parameter, selectable as a table with column `id`: a statement
    with a placeholder per id is too long for psycopg to cache, and re-parsing it on every
    page cost more than running it."""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::text[]) AS id", ids
    return "SELECT value AS id FROM json_each(%s)", json.dumps(ids)


def _to_field(ot: ObjectType, field_name: str) -> str:
    return ot.model._meta.get_field(field_name).target_field.name


def _kept_fields(ot: ObjectType, objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Fields sent only on request (price tiers) that the stored rows have and the batch lacks."""
    if not ot.keep_when_absent:
        return {}
    lacking = [o["id"] for o in objects if any(k not in o for k in ot.keep_when_absent)]
    if not lacking:
        return {}
    kept = {}
    for stripe_id, data in ot.model.objects.filter(id__in=lacking).values_list("id", "stripe_data"):
        kept[stripe_id] = {k: data[k] for k in ot.keep_when_absent if k in data}
    return kept


def _claim(
    ot: ObjectType, ids: list[str], observed_at: datetime, *, wins_ties: bool = False
) -> tuple[set[str], set[str], list[str], int]:
    """Record `observed_at` as the objects' newest state where it is newer than the one
    recorded (and the object is not deleted), in one statement that also locks those rows.

    Returns the ids to write, those of them never recorded before (PostgreSQL tells; on
    SQLite none are said to be), the ties (same moment: only a re-read can tell), and how
    many are stale (a newer state, or the deletion, is already in the mirror).
    """
    if not ids:
        return set(), set(), [], 0
    ids = sorted(set(ids))  # one order for every writer, so two batches cannot deadlock
    at = connection.ops.adapt_datetimefield_value(observed_at)
    table = connection.ops.quote_name(StripeObjectVersion._meta.db_table)
    source, id_param = _id_list(ids)
    cast = ("::varchar", "::timestamptz") if connection.vendor == "postgresql" else ("", "")
    rows = f"SELECT %s{cast[0]}, ids.id, %s{cast[1]}, false FROM ({source}) AS ids"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (object_type, stripe_id, observed_at, deleted) "
            f"{rows} WHERE true "  # (WHERE: SQLite needs it before ON CONFLICT)
            "ON CONFLICT (object_type, stripe_id) DO UPDATE SET observed_at = EXCLUDED.observed_at "
            f"WHERE {table}.observed_at {'<=' if wins_ties else '<'} EXCLUDED.observed_at "
            f"AND NOT {table}.deleted "
            # xmax is 0 on a row this statement inserted (a well-known PostgreSQL idiom).
            f"RETURNING stripe_id, {'xmax = 0' if cast[0] else 'false'}",
            [ot.key, at, id_param],
        )
        claimed = cursor.fetchall()
    fresh = {row[0] for row in claimed}
    first_seen = {row[0] for row in claimed if row[1]}
    if len(fresh) == len(ids):
        return fresh, first_seen, [], 0
    tied = list(
        StripeObjectVersion.objects.filter(
            object_type=ot.key,
            stripe_id__in=[i for i in ids if i not in fresh],
            observed_at=observed_at,
            deleted=False,
        ).values_list("stripe_id", flat=True)
    )
    return fresh, first_seen, tied, len(ids) - len(fresh) - len(tied)


def _lock_versions(ot: ObjectType, ids: list[str]) -> None:
    """Hold the objects' version rows (created if absent) until the transaction ends."""
    StripeObjectVersion.objects.bulk_create(
        [StripeObjectVersion(object_type=ot.key, stripe_id=i, observed_at=EPOCH) for i in ids],
        ignore_conflicts=True,
    )
    list(
        StripeObjectVersion.objects.select_for_update()
        .filter(object_type=ot.key, stripe_id__in=ids)
        .order_by("stripe_id")
        .values_list("pk", flat=True)
    )


def _versions_mark_deleted(ot: ObjectType, ids: list[str], observed_at: datetime) -> None:
    # A deletion is final, even over a read stamped after it (a read is stamped when asked).
    versions = StripeObjectVersion.objects.filter(object_type=ot.key, stripe_id__in=ids)
    versions.update(deleted=True)
    versions.filter(observed_at__lt=observed_at).update(observed_at=observed_at)


def relink() -> int:
    """Fill foreign keys left empty because their target arrived after the row (an invoice
    written before its subscription). One UPDATE per foreign key keyed by Stripe id."""
    linked = 0
    for ot in MODELLED_TYPES:
        for ref in references(ot):
            model_field = ot.model._meta.get_field(ref.field)
            if not model_field.null:
                continue
            target = BY_KEY[ref.object_type].model
            key = KT("stripe_data__" + "__".join(ref.path))
            rows = (
                ot.model.objects.filter(**{f"{model_field.attname}__isnull": True})
                .annotate(ref_id=key)
                .filter(ref_id__in=target.objects.values("id"))
            )
            to_field = _to_field(ot, ref.field)
            if to_field == "id" and not model_field.unique:
                linked += ot.model.objects.filter(pk__in=rows.values("pk")).update(
                    **{model_field.attname: key}
                )
                continue
            # Keyed by djstripe_id, or one-to-one (never two rows on one target): row by row,
            # which is rare (these targets are mostly mirrored before their referrers).
            pairs = list(rows.values_list("pk", "ref_id"))
            keys = dict(
                target.objects.filter(id__in={r for _, r in pairs}).values_list("id", to_field)
            )
            for pk, ref_id in pairs:
                value = keys[ref_id]
                if (
                    model_field.unique
                    and ot.model.objects.filter(**{model_field.attname: value}).exists()
                ):
                    continue
                linked += ot.model.objects.filter(pk=pk).update(**{model_field.attname: value})
    return linked


def customer_sync_from_stripe(*, stripe_id: str) -> Customer:
    """Fetch one customer from Stripe and write it to the mirror; safe to run twice."""
    Mirror().refresh(object_type("customers"), stripe_id, missing_ok=False)
    return Customer.objects.get(id=stripe_id)
