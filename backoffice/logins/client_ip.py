"""The client address the lockout counts failures by (django-axes' AXES_CLIENT_IP_CALLABLE).

`X-Forwarded-For` is anyone's to write: only the entries our own proxies appended are believed.
With `TRUSTED_PROXY_COUNT` = 0 (the default) the header is ignored and the address is the
connection's (REMOTE_ADDR). With n proxies in front, each appending the address it was reached
from, the client is the n-th entry from the right; whatever a client wrote further left is
ignored, so a forged header can neither pass for another address nor make a new one.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [
        entry.strip()
        for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if entry.strip()
    ]
    if len(forwarded) < proxies:
        # Not through every proxy named: the connection's own address is all that is known.
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote
