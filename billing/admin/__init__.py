from billing.admin import catalog, contracts, sync

__all__ = ["catalog", "contracts", "sync"]
