from billing.admin import catalog, contracts, invoices, tax, usage

__all__ = ["catalog", "contracts", "invoices", "tax", "usage"]
