"""Django looks for an app's models in `<app>.models`: billing's live in its packages, one per
domain. Import them from there (billing.contracts.models, ...), not from here."""

from billing.catalog import models as catalog_models
from billing.contracts import models as contract_models
from billing.invoices import models as invoice_models
from billing.tax import models as tax_models
from billing.usage import models as usage_models

__all__ = ["catalog_models", "contract_models", "invoice_models", "tax_models", "usage_models"]
