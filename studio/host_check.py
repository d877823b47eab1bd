"""`HostCheck`: a loopback studio without --auth answers only requests addressed to its own loopback address.

Why: binding to 127.0.0.1 keeps other machines out, but not web pages. A page on evil.example can make its
own name resolve to 127.0.0.1 (DNS rebinding); the browser then counts the studio as evil.example's origin,
so the page's scripts read the studio and write labels through its API. What they cannot change is the Host
header: it still says evil.example. The studio on loopback has no other legitimate name than its loopback
name and port, so anything else is refused before Gradio sees it (400, or a closed websocket).
"""
from __future__ import annotations

from typing import Iterable

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The Host headers a loopback studio on `host`:`port` answers (lower case), whichever loopback name the browser used.

    >>> sorted(allowed_hosts("127.0.0.1", 7860))
    ['127.0.0.1:7860', '[::1]:7860', 'localhost:7860']
    >>> "[::1]:80" in allowed_hosts("::1", 80) and "localhost" in allowed_hosts("::1", 80)  # port 80: browsers leave it out
    True
    """
    names = {*LOOPBACK_NAMES, f"[{host.lower()}]" if ":" in host else host.lower()}
    out = {f"{name}:{port}" for name in names}
    return frozenset(out | names if port == 80 else out)


class HostCheck:
    """ASGI middleware: requests (HTTP and websocket) whose single Host header is not in `allowed` are refused."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            hosts = Headers(scope=scope).getlist("host")
            if len(hosts) != 1 or hosts[0].strip().lower() not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accept: the client gets a 403
                else:
                    await PlainTextResponse("invalid Host header: this studio answers only on its loopback address", status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)
