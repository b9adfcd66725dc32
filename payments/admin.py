"""The Payments section of the admin: each part in its own module, registered on import."""

from payments import (
    collections_admin,  # noqa: F401  (collections and disputes)
    radar_admin,  # noqa: F401  (the Radar queue, its decisions and limits)
)
