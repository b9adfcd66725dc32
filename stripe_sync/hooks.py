"""What the domains take from the mirror: a hook per kind of object they follow.

The mirror sends the objects it wrote (as Stripe sent them) after each write, in the write's
transaction; billing subscribes in its AppConfig.ready (invoice review for invoices, adopting
the tax rates made in Stripe's dashboard, credit notes, the meter events Stripe could not apply),
payments to charges (the acceptance rates' charge outcomes).
"""

from typing import Any

from backoffice.hooks import Hook

StripeObjects = list[dict[str, Any]]

invoices_mirrored: Hook[StripeObjects] = Hook("invoices written to the mirror")
tax_rates_mirrored: Hook[StripeObjects] = Hook("tax rates written to the mirror")
subscriptions_mirrored: Hook[StripeObjects] = Hook("subscriptions written to the mirror")
charges_mirrored: Hook[StripeObjects] = Hook("charges written to the mirror")
# dj-stripe has no credit notes: each state newer than the last one seen is handed over whole.
credit_notes_mirrored: Hook[StripeObjects] = Hook("credit notes seen in Stripe")
# Each: {"identifier": the meter event's, "code": Stripe's error code, "message": its words,
# "event": the Stripe event that reported it}.
MeterErrors = list[dict[str, str]]
meter_errors_reported: Hook[MeterErrors] = Hook("meter events Stripe reported it could not apply")
