"""The dashboard's Streamlit server with a Host allow-list: ``python -m dashboard.server run dashboard/app.py …``
(what ``proxylab dashboard`` and ``proxylab demo`` start).

DNS rebinding: a page on another site can point its own host name at 127.0.0.1 and then talk to a local server
as if it were that server's own page: drive the Start-run form, upload files. Streamlit checks no Host header.
Starlette's ``TrustedHostMiddleware``, put in front of Streamlit's own middleware, answers 400 to every request
and WebSocket upgrade whose Host is not this server's: localhost, 127.0.0.1, ::1, the address it binds (for a
wildcard address, this machine's names and addresses) and ``PROXYLAB_ALLOWED_HOSTS`` (comma-separated).
"""
from __future__ import annotations

import os
import socket
import sys

LOOPBACK = ("localhost", "127.0.0.1", "::1")


def allowed_hosts(address: str) -> list[str]:
    """The Host names a server bound to `address` answers."""
    hosts = set(LOOPBACK)
    if address in ("", "0.0.0.0", "::"):  # every interface: what this machine is called on the network
        name = socket.gethostname()
        hosts |= {name, socket.getfqdn()}
        try:
            hosts |= set(socket.gethostbyname_ex(name)[2])
        except OSError:
            pass
    else:
        hosts.add(address)
    hosts |= {h.strip() for h in os.environ.get("PROXYLAB_ALLOWED_HOSTS", "").split(",") if h.strip()}
    return sorted(h.lower() for h in hosts)


def install_host_check(hosts: list[str]) -> None:
    """Make every Streamlit server this process creates refuse a Host outside `hosts`."""
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from streamlit.web.server.starlette import starlette_app

    streamlit_middleware = starlette_app.create_streamlit_middleware

    def guarded() -> list:
        return [Middleware(TrustedHostMiddleware, allowed_hosts=hosts), *streamlit_middleware()]

    starlette_app.create_streamlit_middleware = guarded


def _address(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--server.address" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--server.address="):
            return arg.split("=", 1)[1]
    return "127.0.0.1"


def main(argv: list[str]) -> None:
    install_host_check(allowed_hosts(_address(argv)))
    from streamlit.web import cli

    sys.argv = ["streamlit", *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
