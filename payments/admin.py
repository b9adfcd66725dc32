"""The Payments section of the admin: each part in its own module, registered on import. The
account page's payments (account_page.py) extend the account page registered by invoice
review, which Django has loaded by now (billing comes first in INSTALLED_APPS)."""

from payments import (
    account_page,  # noqa: F401  (payment methods, mandates, charges on the account page)
    collections_admin,  # noqa: F401  (collections and disputes)
    radar_admin,  # noqa: F401  (the Radar queue, its decisions and limits)
)
