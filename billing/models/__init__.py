from billing.models.catalog import CatalogItem, ListPrice
from billing.models.contracts import Contract, ContractLine, PricePhase, PriceTier
from billing.models.stripe_push import PushStatus, StripeWrite
from billing.models.sync import StripeEvent, StripeObjectVersion, SyncStatus

__all__ = [
    "CatalogItem",
    "Contract",
    "ContractLine",
    "ListPrice",
    "PricePhase",
    "PriceTier",
    "PushStatus",
    "StripeEvent",
    "StripeObjectVersion",
    "StripeWrite",
    "SyncStatus",
]
