"""Refuse requests a browser was tricked into sending.

Two attacks reach a server that only listens on loopback:

* DNS rebinding: a page on ``evil.example`` makes its own name resolve to
  127.0.0.1 and then reads ``http://evil.example:8126/api/profiles`` as a
  same-origin request.  The browser still sends ``Host: evil.example``, so
  only Host values naming the served address are answered (421 otherwise),
  unless ``--host`` made the server public on purpose.
* Cross-site uploads: a ``no-cors`` fetch can POST a multipart body from any
  site.  Browsers always send ``Origin`` (and ``Sec-Fetch-Site``) with such a
  POST; profiling clients never do (they send ``DD-EVP-ORIGIN``), so a POST
  from a foreign origin is refused (403).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "localhost.localdomain")


def _host_name(host_header: str) -> str:
    """``[::1]:8126`` -> ``::1``; ``LocalHost:8126`` -> ``localhost``."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class RequestGuard:
    def __init__(self, bind_host: str, bound_address: str, extra_hosts=()):
        self.public = not _is_loopback(bind_host)
        names = {_host_name(name) for name in extra_hosts}
        names.update({_host_name(bind_host), _host_name(bound_address)})
        if not self.public:
            names.update(LOOPBACK_NAMES)
        self.allowed = names

    def host_allowed(self, host_header: str | None) -> bool:
        if self.public or host_header is None:  # HTTP/1.0 clients send no Host
            return True
        name = _host_name(host_header)
        if name in self.allowed:
            return True
        try:  # any loopback literal (127.0.0.2, ::ffff:127.0.0.1) names us too
            return not self.public and ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def cross_site_reason(self, headers) -> str | None:
        """Why a POST is a browser's cross-site request, or None."""
        fetch_site = (headers.get("Sec-Fetch-Site") or "").lower()
        if fetch_site in ("cross-site", "same-site"):
            return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
        origin = headers.get("Origin")
        if origin is None:
            return None
        if origin == "null":
            return "request from an opaque origin (Origin: null) refused"
        origin_host = urlsplit(origin).netloc
        if not origin_host or not self.host_allowed(origin_host) or \
                (self.public and _host_name(origin_host) != _host_name(headers.get("Host") or "")):
            return f"cross-origin request from {origin!r} refused"
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
