"""Sign-in attempts are limited: a few failures are free, then each further try waits a doubling delay.

Why here and not in Gradio's `auth=` callable: the callable gets (username, password) only, never the
client's address, and it cannot say "wait" (only yes or no, so a refusal would read as a wrong password and
the attempt would still be counted as tried). `LoginLimit` wraps Gradio's POST /login instead: it reads the
username from the form, refuses an attempt that is over the limit with 429 and a Retry-After header without
letting the password be checked, and learns from Gradio's answer (200 signed in, 400 wrong credentials).

Two counters per attempt: the user (someone guessing one account's password, from anywhere) and the client
address (one client trying many accounts). The delay is capped and expires, and a success clears the
user's counter, so the right user is never locked out for longer than `max_delay_s`; failures are forgotten
after `forget_after_s` without one.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGIN_PATHS = frozenset({"/login", "/login/"})
"""Where Gradio 6 takes a sign-in (gradio/routes.py, `login`)."""
MAX_FORM_BYTES = 16 * 1024
"""A sign-in form is a username and a password; anything bigger is refused unread."""

Key = tuple[str, str]


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    in_flight: int = 0
    last_failure: float = 0.0


class LoginLimiter:
    """Counts failed sign-ins per key and says how long the next attempt must wait.

    After `free` failures (per user; `free_per_address` per client address) every failure blocks the key for
    `base_delay_s`, doubling with each further failure up to `max_delay_s`. Attempts still being checked count
    too, so a burst of parallel requests gets no more than the free tries, and a blocked key one at a time.

    >>> now = [0.0]
    >>> lim = LoginLimiter(free=2, free_per_address=10, base_delay_s=1.0, clock=lambda: now[0])
    >>> keys = LoginLimiter.keys("ann", "10.0.0.1")
    >>> for _ in range(2):
    ...     assert lim.begin(keys) == 0; lim.end(keys, signed_in=False)
    >>> lim.begin(keys)  # blocked for 1 s after the 2nd failure
    1.0
    >>> now[0] = 1.0; lim.begin(keys); lim.end(keys, signed_in=False); lim.begin(keys)  # the 3rd failure: 2 s
    0.0
    2.0
    >>> now[0] = 3.0; lim.begin(keys); lim.end(keys, signed_in=True); lim.begin(keys)  # signed in: the user starts afresh
    0.0
    0.0
    """

    def __init__(self, free: int = 5, free_per_address: int = 10, base_delay_s: float = 1.0, max_delay_s: float = 300.0,
                 forget_after_s: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.free = {"user": free, "address": free_per_address}
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.forget_after_s = forget_after_s
        self.clock = clock
        self._records: dict[Key, _Record] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, address: str) -> list[Key]:
        return [("user", username), ("address", address)]

    def _wait(self, key: Key, rec: _Record, now: float) -> float:
        if now - rec.last_failure > self.forget_after_s and rec.in_flight == 0 and now >= rec.blocked_until:
            rec.failures = 0
        if now < rec.blocked_until:
            return rec.blocked_until - now
        if rec.in_flight and rec.failures + rec.in_flight >= self.free[key[0]]:
            return 1.0  # the last free try (or the one try a blocked key gets) is being checked now
        return 0.0

    def begin(self, keys: list[Key]) -> float:
        """0.0: the attempt may go ahead (call `end` after it); otherwise the seconds to wait (nothing recorded)."""
        with self._lock:
            now = self.clock()
            wait = max((self._wait(k, self._records[k], now) for k in keys if k in self._records), default=0.0)
            if wait > 0:
                return wait
            for k in keys:
                self._records.setdefault(k, _Record()).in_flight += 1
            return 0.0

    def end(self, keys: list[Key], signed_in: bool | None) -> None:
        """After an attempt `begin` let through: True signed in, False wrong credentials, None neither (a bad form)."""
        with self._lock:
            now = self.clock()
            for k in keys:
                rec = self._records.setdefault(k, _Record())
                rec.in_flight = max(0, rec.in_flight - 1)
                if signed_in is False:
                    rec.failures += 1
                    rec.last_failure = now
                    over = rec.failures - self.free[k[0]]
                    if over >= 0:
                        rec.blocked_until = now + min(self.max_delay_s, self.base_delay_s * 2.0 ** min(over, 60))
                elif signed_in and k[0] == "user":
                    self._records.pop(k, None)
            if len(self._records) > 10_000:  # many names tried: drop what is idle and forgotten
                self._records = {k: r for k, r in self._records.items()
                                 if r.in_flight or now < r.blocked_until or now - r.last_failure <= self.forget_after_s}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it is over MAX_FORM_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class LoginLimit:
    """ASGI middleware around Gradio's POST /login applying a `LoginLimiter`."""

    def __init__(self, app: ASGIApp, limiter: LoginLimiter):
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in LOGIN_PATHS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await PlainTextResponse("sign-in form too large", status_code=413)(scope, receive, send)
            return
        try:
            form = await Request(scope, _replay(body, receive)).form()
            username = str(form.get("username") or "").strip()  # Gradio strips it too
        except Exception:  # not a form: Gradio answers it (422); the address still counts
            username = ""
        keys = LoginLimiter.keys(username, (scope.get("client") or ("unknown",))[0])
        wait = self.limiter.begin(keys)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            await JSONResponse({"detail": f"too many failed sign-ins; try again in {seconds} s"}, status_code=429,
                               headers={"Retry-After": str(seconds)})(scope, receive, send)
            return
        status: dict[str, int] = {}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, _replay(body, receive), watch)
        finally:
            self.limiter.end(keys, {200: True, 400: False}.get(status.get("code", 0)))
