from billing.admin import catalog, contracts

__all__ = ["catalog", "contracts"]
