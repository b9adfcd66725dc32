from billing.admin import catalog, contracts, invoices, sync, tax

__all__ = ["catalog", "contracts", "invoices", "sync", "tax"]
