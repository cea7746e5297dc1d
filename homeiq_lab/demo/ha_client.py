"""Talk to the demo's Home Assistant: onboarding, tokens, REST and websocket calls."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Self

import aiohttp

LONG_LIVED_TOKEN_DAYS: Final = 3650
REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=60)


class HAError(Exception):
    """Home Assistant answered something other than what the demo needs."""


class HAClient:
    """A REST and websocket client for one Home Assistant instance."""

    def __init__(self, base_url: str) -> None:
        """Remember where Home Assistant listens."""
        self.base_url = base_url.rstrip("/")
        self.client_id = f"{self.base_url}/"
        self.token: str | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        """Open the HTTP session."""
        # The threaded resolver: aiodns, when installed, may not match the installed pycares.
        connector = aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver())
        self._session = aiohttp.ClientSession(timeout=REQUEST_TIMEOUT, connector=connector)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """Return the open HTTP session."""
        if self._session is None:
            raise RuntimeError("HAClient used outside 'async with'")
        return self._session

    def _headers(self) -> dict[str, str]:
        """Return the authorization header, once there is a token."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def wait_until_up(self, within: float, alive: Callable[[], bool]) -> float:
        """Wait until the HTTP API answers; return the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            if not alive():
                raise HAError("Home Assistant exited while starting (see its log)")
            try:
                async with self.session.get(f"{self.base_url}/api/onboarding") as response:
                    if response.status in (200, 401, 404):
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1.0)
        raise HAError(f"Home Assistant did not answer within {within:.0f} s")

    async def request(self, method: str, path: str, payload: Any = None, *, expect: int = 200) -> Any:
        """Call the REST API and return the decoded JSON answer."""
        async with self.session.request(
            method, f"{self.base_url}{path}", json=payload, headers=self._headers()
        ) as response:
            body = await response.text()
            if response.status != expect:
                raise HAError(f"{method} {path}: HTTP {response.status}: {body[:500]}")
            return await response.json() if body else None

    async def onboard(self, name: str, username: str, password: str) -> None:
        """Create the owner through the onboarding API, then log in as that user."""
        answer = await self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        async with self.session.post(
            f"{self.base_url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["auth_code"],
                "client_id": self.client_id,
            },
        ) as response:
            if response.status != 200:
                raise HAError(f"token exchange failed: HTTP {response.status}: {await response.text()}")
            self.token = (await response.json())["access_token"]

    async def create_long_lived_token(self, client_name: str) -> str:
        """Create a long-lived access token and use it from now on."""
        async with WebSocket(self) as ws:
            token = await ws.call(
                "auth/long_lived_access_token", client_name=client_name, lifespan=LONG_LIVED_TOKEN_DAYS
            )
        self.token = str(token)
        return self.token

    async def states(self) -> dict[str, dict[str, Any]]:
        """Return every state, keyed by entity id."""
        return {state["entity_id"]: state for state in await self.request("GET", "/api/states")}

    async def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Return the config entries of one integration."""
        entries = await self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return list(entries)

    async def create_config_entry(self, domain: str) -> dict[str, Any]:
        """Run an integration's config flow, submitting each form with its defaults."""
        step = await self.request(
            "POST", "/api/config/config_entries/flow", {"handler": domain, "show_advanced_options": False}
        )
        for _ in range(5):
            if step["type"] != "form":
                break
            step = await self.request("POST", f"/api/config/config_entries/flow/{step['flow_id']}", {})
        if step["type"] != "create_entry":
            raise HAError(f"config flow of {domain} ended with {step}")
        return dict(step["result"])

    async def call_service(
        self, domain: str, service: str, data: dict[str, Any] | None = None, *, return_response: bool = False
    ) -> Any:
        """Call an action over REST; with return_response, return its response data."""
        suffix = "?return_response" if return_response else ""
        timeout = aiohttp.ClientTimeout(total=600)
        async with self.session.post(
            f"{self.base_url}/api/services/{domain}/{service}{suffix}",
            json=data or {},
            headers=self._headers(),
            timeout=timeout,
        ) as response:
            body = await response.text()
            if response.status != 200:
                raise HAError(f"{domain}.{service}: HTTP {response.status}: {body[:1000]}")
            return await response.json()

    async def fire_event(self, event_type: str, data: dict[str, Any]) -> None:
        """Fire an event on the bus."""
        await self.request("POST", f"/api/events/{event_type}", data)


class WebSocket:
    """One authenticated websocket connection."""

    def __init__(self, client: HAClient) -> None:
        """Prepare a connection for a client that holds a token."""
        self._client = client
        self._ids = itertools.count(1)
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> Self:
        """Connect and authenticate."""
        url = self._client.base_url.replace("http", "ws", 1) + "/api/websocket"
        self._ws = await self._client.session.ws_connect(url)
        hello = await self._ws.receive_json()
        if hello.get("type") != "auth_required":
            raise HAError(f"unexpected websocket greeting {hello}")
        await self._ws.send_json({"type": "auth", "access_token": self._client.token})
        answer = await self._ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise HAError(f"websocket authentication failed: {answer}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection."""
        if self._ws is not None:
            await self._ws.close()

    async def call(self, message_type: str, **payload: Any) -> Any:
        """Send one command and return its result."""
        if self._ws is None:
            raise RuntimeError("WebSocket used outside 'async with'")
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "type": message_type, **payload})
        while True:
            answer = await self._ws.receive_json(timeout=120)
            if answer.get("id") == message_id and answer.get("type") == "result":
                break
        if not answer.get("success"):
            raise HAError(f"{message_type}: {answer.get('error')}")
        return answer.get("result")
