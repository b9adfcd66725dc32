from billing.admin import catalog, contracts, sync, tax

__all__ = ["catalog", "contracts", "sync", "tax"]
