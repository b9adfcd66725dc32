from billing.models.catalog import CatalogItem, ListPrice
from billing.models.contracts import Contract, ContractLine, PricePhase, PriceTier
from billing.models.imports import ImportUpload
from billing.models.invoices import InvoiceApprovalLimit, InvoiceReview
from billing.models.stripe_push import PushStatus, StripeWrite
from billing.models.sync import StripeEvent, StripeObjectVersion, SyncStatus
from billing.models.tax import TaxRate, TaxRule, TaxType
from billing.models.usage import UsageQuantity

__all__ = [
    "CatalogItem",
    "Contract",
    "ContractLine",
    "ImportUpload",
    "InvoiceApprovalLimit",
    "InvoiceReview",
    "ListPrice",
    "PricePhase",
    "PriceTier",
    "PushStatus",
    "StripeEvent",
    "StripeObjectVersion",
    "StripeWrite",
    "SyncStatus",
    "TaxRate",
    "TaxRule",
    "TaxType",
    "UsageQuantity",
]
