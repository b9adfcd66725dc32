"""Django's admin looks for an app's screens in `<app>.admin`: billing's live in its packages."""

from billing.catalog import admin as catalog_admin
from billing.contracts import account_page
from billing.contracts import admin as contract_admin
from billing.invoices import admin as invoice_admin
from billing.invoices import mirror_admin
from billing.tax import admin as tax_admin
from billing.usage import admin as usage_admin

__all__ = [
    "account_page",
    "catalog_admin",
    "contract_admin",
    "invoice_admin",
    "mirror_admin",
    "tax_admin",
    "usage_admin",
]
