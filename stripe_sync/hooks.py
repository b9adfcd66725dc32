"""What the domains take from the mirror: a hook per kind of object they follow.

The mirror sends the objects it wrote (as Stripe sent them) after each write, in the write's
transaction; billing subscribes in its AppConfig.ready (invoice review for invoices, adopting
the tax rates made in Stripe's dashboard).
"""

from typing import Any

from backoffice.hooks import Hook

StripeObjects = list[dict[str, Any]]

invoices_mirrored: Hook[StripeObjects] = Hook("invoices written to the mirror")
tax_rates_mirrored: Hook[StripeObjects] = Hook("tax rates written to the mirror")
