"""Screenshot a Home Assistant dashboard in headless Chromium, logged in with a token.

Chromium is driven over the DevTools protocol: open a page of HA's origin,
put the token where the frontend keeps its tokens (localStorage
`hassTokens`), open the dashboard, wait until the given texts are rendered
(searching through the frontend's shadow roots), then capture the page.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import aiohttp

CHROMIUM_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
MAX_PNG_BYTES: Final = 500_000

# Every text of the page, including what sits inside shadow roots.
DEEP_TEXT_JS: Final = """
(() => {
  const parts = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document);
  return parts.join(' ').replace(/\\s+/g, ' ');
})()
"""


class BrowserError(Exception):
    """Chromium could not be started or the page did not render."""


def find_chromium() -> str | None:
    """Return the Chromium executable, if installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class _DevTools:
    """A minimal DevTools protocol session on one page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its result (events in between are skipped)."""
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json(timeout=60)
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result.get("result", {}).get("value")

    async def navigate(self, url: str, within: float = 30.0) -> None:
        """Open a URL and wait until the document has loaded."""
        await self.send("Page.navigate", url=url)
        started = time.monotonic()
        while time.monotonic() - started < within:
            if await self.evaluate("document.readyState") == "complete":
                return
            await asyncio.sleep(0.2)
        raise BrowserError(f"{url} did not load within {within:.0f} s")


def _save_png(output: Path, png: bytes) -> None:
    """Write the screenshot, small enough to commit."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(_shrink_png(png))


def _shrink_png(png: bytes) -> bytes:
    """Reduce a screenshot to a palette PNG when it is too large to commit."""
    if len(png) <= MAX_PNG_BYTES:
        return png
    from PIL import Image  # Pillow comes with Home Assistant

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def screenshot_dashboard(
    *,
    base_url: str,
    token: str,
    path: str,
    expect_texts: list[str],
    output: Path,
    width: int = 1400,
    height: int = 1250,
    within: float = 90.0,
) -> list[str]:
    """Render `base_url + path` logged in with `token`, save a PNG; return the texts seen.

    Raises BrowserError when the expected texts do not all appear within `within` seconds.
    """
    chromium = find_chromium()
    if chromium is None:
        raise BrowserError("Chromium is not installed (apt-get install chromium)")
    profile = Path(tempfile.mkdtemp(prefix="homeiq-chromium-"))
    process = await _start_chromium(chromium, profile, width, height)
    try:
        port = await _devtools_port(process, profile)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json(content_type=None)
            page = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tools = _DevTools(ws)
                await tools.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await _log_in(tools, base_url, token)
                await tools.navigate(f"{base_url}{path}")
                seen = await _wait_for_texts(tools, expect_texts, within)
                await asyncio.sleep(2.0)  # let icons and fonts settle
                shot = await tools.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(_save_png, output, base64.b64decode(shot["data"]))
        return [text for text in expect_texts if text in seen]
    finally:
        await _stop_chromium(process, profile)


async def _start_chromium(
    chromium: str, profile: Path, width: int, height: int
) -> asyncio.subprocess.Process:
    """Start headless Chromium on a blank page with its own profile folder."""
    return await asyncio.create_subprocess_exec(
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _devtools_port(process: asyncio.subprocess.Process, profile: Path) -> int:
    """The DevTools port Chromium writes into its profile folder (waits up to 30 s)."""
    port_file = profile / "DevToolsActivePort"
    started = time.monotonic()
    while not port_file.exists() or not port_file.read_text().strip():
        if process.returncode is not None or time.monotonic() - started > 30:
            raise BrowserError("Chromium did not open its DevTools port")
        await asyncio.sleep(0.2)
    return int(port_file.read_text().split()[0])


async def _log_in(tools: _DevTools, base_url: str, token: str) -> None:
    """Store a long-lived access token where the Home Assistant frontend looks for it."""
    await tools.navigate(f"{base_url}/manifest.json")
    tokens = {
        "hassUrl": base_url,
        "clientId": f"{base_url}/",
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 315_360_000,
        "expires": int(time.time() * 1000) + 315_360_000_000,
        "refresh_token": "",
    }
    await tools.evaluate(f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))})")


async def _wait_for_texts(tools: _DevTools, expect_texts: list[str], within: float) -> str:
    """The page's text once it shows every expected text; BrowserError after `within` seconds."""
    seen = ""
    started = time.monotonic()
    while time.monotonic() - started < within:
        seen = str(await tools.evaluate(DEEP_TEXT_JS) or "")
        if all(text in seen for text in expect_texts):
            return seen
        await asyncio.sleep(1.0)
    missing = [text for text in expect_texts if text not in seen]
    raise BrowserError(f"dashboard did not show {missing}; page text: {seen[:400]!r}")


async def _stop_chromium(process: asyncio.subprocess.Process, profile: Path) -> None:
    """Terminate Chromium (kill it after 10 s) and remove its profile folder."""
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
    await asyncio.to_thread(shutil.rmtree, profile, True)
