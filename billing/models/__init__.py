from billing.models.catalog import CatalogItem, ListPrice
from billing.models.contracts import Contract, ContractLine, PricePhase, PriceTier

__all__ = ["CatalogItem", "Contract", "ContractLine", "ListPrice", "PricePhase", "PriceTier"]
