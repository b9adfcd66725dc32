"""Credit notes on finalized invoices, as Stripe issues them (localstripe has none).

    GET  /v1/credit_notes/preview   what the credit note would be, nothing written
    POST /v1/credit_notes           issue it (`credit_note.created` to the webhooks)
    GET  /v1/credit_notes           newest first, `invoice` and `customer` filters
    GET  /v1/credit_notes/{id}
    POST /v1/credit_notes/{id}        its memo and metadata (`credit_note.updated`)
    POST /v1/credit_notes/{id}/void   void it (`credit_note.voided`)

Parameters, after Stripe's API reference ("Create a credit note"): `invoice` (required),
`lines` (each `type` `invoice_line_item` with `invoice_line_item` and `amount`, or
`custom_line_item` with `unit_amount`, `quantity` and `description`), `reason` (duplicate,
fraudulent, order_change, product_unsatisfactory), `memo`, `metadata`.

Refused, before anything is written, in Stripe's shape: an unknown invoice (404), a draft or
void invoice (Stripe credits only finalized invoices), no lines, a line not on the invoice, a
line credited beyond what it billed (with what earlier credit notes took), a total beyond what
is left to credit on the invoice, another reason, a negative or zero amount.

On an open invoice a credit note is `pre_payment` (it lowers what the customer owes: the
invoice's `pre_payment_credit_notes_amount` grows and its `amount_due` falls); on a paid or
uncollectible one it is `post_payment` (`post_payment_credit_notes_amount`).

Tax: a line's `amount` is before tax, and the credit note credits the invoice line's tax in
proportion (crediting the whole line credits its whole tax): each credit note line carries its
`taxes`, and the note's `amount` and `total` include the exclusive ones. What is left to
credit on the invoice is its total, tax included.

Voiding follows Stripe ("you can only void a credit note if the associated invoice is open";
a void credit note cannot be voided again): what it credited is given back to the invoice.
"""

from decimal import Decimal
from typing import Any

from localstripe import resources

from stripe_standin import store
from stripe_standin.schedule_invoices import round_half_up
from stripe_standin.store import STORE, Obj, StripeError

REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
_PARAMS = frozenset({"invoice", "lines", "reason", "memo", "metadata", "expand"})


def _invoice(params: Obj) -> Any:
    invoice_id = params.get("invoice")
    if not invoice_id:
        raise store._missing("invoice")
    invoice = resources.store.get("invoice:" + str(invoice_id))
    if invoice is None:
        raise store._no_such("invoice", str(invoice_id), param="invoice", status=404)
    if invoice.status in ("draft", "void"):
        raise StripeError(
            400,
            f"You can only create a credit note for a finalized invoice; invoice {invoice.id} "
            f"is {invoice.status}.",
            param="invoice",
            code="invoice_not_editable" if invoice.status == "void" else None,
        )
    return invoice


def _credited(invoice_id: str) -> tuple[int, dict[str, int]]:
    """What the invoice's credit notes took so far: in all, and per invoice line."""
    total, per_line = 0, {}
    for note in STORE.all("credit_note"):
        if note["invoice"] != invoice_id or note["status"] == "void":
            continue
        total += note["amount"]
        for line in note["lines"]["data"]:
            if line.get("invoice_line_item"):
                key = line["invoice_line_item"]
                per_line[key] = per_line.get(key, 0) + line["amount"]
    return total, per_line


def _lines(params: Obj, invoice: Any) -> list[Obj]:
    entries = params.get("lines")
    if isinstance(entries, dict):
        entries = list(entries.values())
    if not entries:
        raise store._missing("lines")
    exported = invoice._export()
    billed = {line["id"]: line for line in exported["lines"]["data"]}
    _, taken = _credited(invoice.id)
    lines = []
    for n, entry in enumerate(store._list(entries, "lines")):
        entry = store._dict(entry, f"lines[{n}]")
        kind = store._choice(
            entry.get("type"), f"lines[{n}][type]", ("invoice_line_item", "custom_line_item")
        )
        if kind == "invoice_line_item":
            line_id = store._string(
                entry.get("invoice_line_item"), f"lines[{n}][invoice_line_item]"
            )
            if line_id not in billed:
                raise store._no_such("invoice line item", line_id, f"lines[{n}][invoice_line_item]")
            amount = store._int(entry.get("amount"), f"lines[{n}][amount]", minimum=1)
            store._charged(amount, invoice.currency, f"lines[{n}][amount]")
            left = billed[line_id]["amount"] - taken.get(line_id, 0)
            if amount > left:
                raise StripeError(
                    400,
                    f"The credit note line amount ({amount}) exceeds what is left to credit on "
                    f"invoice line {line_id} ({left}).",
                    param=f"lines[{n}][amount]",
                )
            description = billed[line_id].get("description")
            quantity = 1
            taxes = _tax_shares(billed[line_id], amount)
        else:
            unit = store._int(entry.get("unit_amount"), f"lines[{n}][unit_amount]", minimum=1)
            quantity = store._int(entry.get("quantity", 1), f"lines[{n}][quantity]", minimum=1)
            description = store._string(entry.get("description"), f"lines[{n}][description]")
            amount, line_id, taxes = unit * quantity, None, []
        lines.append(
            {
                "id": store.new_id("credit_note_line_item"),
                "object": "credit_note_line_item",
                "amount": amount,
                "description": description,
                "discount_amount": 0,
                "discount_amounts": [],
                "invoice_line_item": line_id,
                "livemode": False,
                "quantity": quantity,
                "tax_rates": [],
                "taxes": taxes,
                "pretax_credit_amounts": [],
                "type": kind,
                "unit_amount": None if line_id else amount // quantity,
                "unit_amount_decimal": None if line_id else str(amount // quantity),
                "metadata": {},
            }
        )
    return lines


def _tax_shares(billed: Obj, amount: int) -> list[Obj]:
    """The invoice line's taxes in proportion to the amount credited, each rounded: its
    `taxes`, or localstripe's `tax_amounts` on lines of its own invoices."""
    taxes = billed.get("taxes") or [
        {
            "amount": t["amount"],
            "tax_behavior": "inclusive" if t.get("inclusive") else "exclusive",
            "tax_rate_details": {"tax_rate": _id(t.get("tax_rate"))},
            "taxability_reason": "standard_rated",
            "type": "tax_rate_details",
        }
        for t in billed.get("tax_amounts") or []
    ]
    shares = []
    for tax in taxes:
        share = round_half_up(Decimal(tax["amount"]) * amount / billed["amount"])
        inclusive = tax.get("tax_behavior") == "inclusive"
        shares.append(
            {**tax, "amount": share, "taxable_amount": amount - share if inclusive else amount}
        )
    return shares


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _exclusive_tax(lines: list[Obj]) -> int:
    return sum(
        t["amount"] for line in lines for t in line["taxes"] if t.get("tax_behavior") != "inclusive"
    )


def _build(params: Obj) -> tuple[Obj, Any]:
    unknown = set(params) - _PARAMS
    if unknown:
        raise StripeError(400, f"Received unknown parameter: {sorted(unknown)[0]}")
    invoice = _invoice(params)
    reason = params.get("reason")
    if reason is not None:
        reason = store._choice(reason, "reason", REASONS)
    lines = _lines(params, invoice)
    subtotal = sum(line["amount"] for line in lines)
    tax = _exclusive_tax(lines)
    amount = subtotal + tax
    credited, _ = _credited(invoice.id)
    if credited + amount > invoice.total:
        raise StripeError(
            400,
            f"The credit note amount ({amount}) exceeds what is left to credit on invoice "
            f"{invoice.id} ({invoice.total - credited}).",
            param="lines",
        )
    pre = invoice.status == "open"
    now = store._now()
    note = store.stripe_fixture("credit_note")
    note.update(
        id=store.new_id("credit_note"),
        amount=amount,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=amount,
        total_excluding_tax=subtotal,
        total_taxes=[t for line in lines for t in line["taxes"]],
        discount_amount=0,
        discount_amounts=[],
        currency=invoice.currency,
        customer=invoice.customer,
        customer_balance_transaction=None,
        invoice=invoice.id,
        lines={"object": "list", "data": lines, "has_more": False, "url": "/v1/credit_notes"},
        memo=store._optional_string(params.get("memo"), "memo"),
        metadata=store._new_metadata(params.get("metadata", {})),
        number=f"{invoice.id[-8:].upper()}-CN-{len(_notes_of(invoice.id)) + 1:02d}",
        reason=reason,
        status="issued",
        type="pre_payment" if pre else "post_payment",
        pre_payment_amount=amount if pre else 0,
        post_payment_amount=0 if pre else amount,
        out_of_band_amount=None,
        refunds=[],
        created=now,
        effective_at=now,
        voided_at=None,
        livemode=False,
        pdf=f"https://pay.stripe.com/credit_notes/{invoice.id}/pdf",
    )
    return note, invoice


def _notes_of(invoice_id: str) -> list[Obj]:
    return [note for note in STORE.all("credit_note") if note["invoice"] == invoice_id]


def credit_note_preview(params: Obj) -> Obj:
    note, _ = _build(params)
    note["id"] = "cn_preview"
    return note


def credit_note_create(params: Obj) -> Obj:
    note, invoice = _build(params)
    STORE.put(note)
    field = _applied_field(note)
    setattr(invoice, field, (getattr(invoice, field, 0) or 0) + note["amount"])
    store.emit_event("credit_note.created", note)
    return store.public_copy(note)


def _applied_field(note: Obj) -> str:
    return (
        "pre_payment_credit_notes_amount"
        if note["type"] == "pre_payment"
        else "post_payment_credit_notes_amount"
    )


def credit_note_update(credit_note_id: str, params: Obj) -> Obj:
    note = STORE.get("credit_note", credit_note_id)
    unknown = set(params) - {"memo", "metadata", "expand"}
    if unknown:
        raise StripeError(400, f"Received unknown parameter: {sorted(unknown)[0]}")
    if "memo" in params:
        note["memo"] = store._optional_string(params["memo"], "memo")
    if "metadata" in params:
        note["metadata"] = store._merge_metadata(note["metadata"], params["metadata"])
    store.emit_event("credit_note.updated", note)
    return store.public_copy(note)


def credit_note_void(credit_note_id: str, params: Obj) -> Obj:
    note = STORE.get("credit_note", credit_note_id)
    if note["status"] == "void":
        raise StripeError(400, f"Credit note {credit_note_id} is already voided.")
    invoice = resources.Invoice._api_retrieve(note["invoice"])
    if invoice.status != "open":
        raise StripeError(
            400,
            f"You can only void a credit note if the associated invoice is open; invoice "
            f"{invoice.id} is {invoice.status}.",
        )
    field = _applied_field(note)
    setattr(invoice, field, max(0, (getattr(invoice, field, 0) or 0) - note["amount"]))
    note.update(status="void", voided_at=store._now())
    store.emit_event("credit_note.voided", note)
    return store.public_copy(note)


def credit_note_list(params: Obj) -> Obj:
    filters = [
        (lambda obj, k=key, v=params[key]: obj.get(k) == v)
        for key in ("invoice", "customer")
        if params.get(key)
    ]
    rest = {k: v for k, v in params.items() if k not in ("invoice", "customer")}
    return store.list_object(
        STORE.all("credit_note"),
        rest,
        url="/v1/credit_notes",
        object_name="credit_note",
        filters=filters,
    )


def credit_note_retrieve(credit_note_id: str, params: Obj) -> Obj:
    return store.public_copy(STORE.get("credit_note", credit_note_id))
