from billing.models.catalog import CatalogItem, ListPrice
from billing.models.contracts import Contract, ContractLine, PricePhase, PriceTier
from billing.models.invoices import InvoiceApprovalLimit, InvoiceReview
from billing.models.tax import TaxRate, TaxRule, TaxType
from billing.models.usage import UsageQuantity

__all__ = [
    "CatalogItem",
    "Contract",
    "ContractLine",
    "InvoiceApprovalLimit",
    "InvoiceReview",
    "ListPrice",
    "PricePhase",
    "PriceTier",
    "TaxRate",
    "TaxRule",
    "TaxType",
    "UsageQuantity",
]
