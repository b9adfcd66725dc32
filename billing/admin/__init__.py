from billing.admin import catalog, contracts, invoices, sync, tax, usage

__all__ = ["catalog", "contracts", "invoices", "sync", "tax", "usage"]
