"""Builds the contract page's form submission (lines -> phases -> tiers), as a browser would."""

from typing import Any

CONTRACT_DEFAULTS = {
    "number": "",
    "signed_date": "",
    "start_date": "2026-01-01",
    "end_date": "2028-12-31",
    "notice_period_days": "30",
    "renewal_term_months": "",
    "effective_date": "",
    "billing_frequency": "1",
    "billing_anchor_date": "",
    "collection_method": "send_invoice",
    "payment_terms_days": "30",
    "currency": "EUR",
    "minimum_commit": "",
    "po_number": "",
    "tax_mode": "rules",
    "notes": "",
}
PHASE_DEFAULTS = {
    "start_date": "",
    "end_date": "",
    "quantity": "0",
    "unit_amount": "0",
    "flat_amount": "0",
    "included_units": "0",
}
TIER_DEFAULTS = {"up_to": "", "unit_amount": "0", "flat_amount": "0"}


def _management(prefix: str, rows: list[dict[str, Any]], data: dict[str, str]) -> None:
    data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
    data[f"{prefix}-INITIAL_FORMS"] = str(sum(1 for r in rows if r.get("id")))
    data[f"{prefix}-MIN_NUM_FORMS"] = "0"
    data[f"{prefix}-MAX_NUM_FORMS"] = "1000"


def _templates(prefix: str, data: dict[str, str], phases: int) -> None:
    """The page's hidden templates for new rows post their management forms too."""
    _management(prefix, [{}] * phases, data)


def contract_form(lines: list[dict[str, Any]], **contract: Any) -> dict[str, str]:
    data = {**CONTRACT_DEFAULTS, **{k: str(v) for k, v in contract.items()}}
    _management("lines", lines, data)
    # A new line's template holds one phase (min_num), whose tiers and template tiers follow.
    _templates("lines-empty-phases", data, 1)
    _templates("lines-empty-phases-0-tiers", data, 0)
    _templates("lines-empty-phases-empty-tiers", data, 0)
    for i, line in enumerate(lines):
        p = f"lines-{i}"
        for field in ("key", "item", "description", "pricing_model", "metric", "id"):
            data[f"{p}-{field}"] = str(line.get(field, ""))
        phases = line.get("phases", [])
        _management(f"{p}-phases", phases, data)
        _templates(f"{p}-phases-empty-tiers", data, 0)
        for j, phase in enumerate(phases):
            q = f"{p}-phases-{j}"
            for field, value in {**PHASE_DEFAULTS, **phase}.items():
                if field != "tiers":
                    data[f"{q}-{field}"] = str(value)
            tiers = phase.get("tiers", [])
            _management(f"{q}-tiers", tiers, data)
            for k, tier in enumerate(tiers):
                for field, value in {**TIER_DEFAULTS, **tier}.items():
                    data[f"{q}-tiers-{k}-{field}"] = str(value)
    return data
