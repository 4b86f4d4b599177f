"""The WebSocket URL and handshake headers for a Baseten model or a local server."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

API_KEY_ENV = "BASETEN_API_KEY"
LOCAL_PATH = "/v1/websocket"  # where truss's server (make serve, make demo) takes WebSockets
_ID = re.compile(r"[A-Za-z0-9_-]+")


def baseten_url(model_id: str, *, environment: str | None = None, deployment: str | None = None) -> str:
    """``wss://model-{id}.api.baseten.co/...``: an environment (default production) or a deployment."""
    if environment is not None and deployment is not None:
        raise ValueError("give an environment or a deployment, not both")
    _check_id("model id", model_id)
    base = f"wss://model-{model_id}.api.baseten.co"
    if deployment is not None:
        _check_id("deployment id", deployment)
        return f"{base}/deployment/{deployment}/websocket"
    environment = environment or "production"
    _check_id("environment", environment)
    return f"{base}/environments/{environment}/websocket"


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Api-Key {api_key}"} if api_key else {}


def is_baseten_url(url: str) -> bool:
    """Whether the API key may be sent to ``url``: TLS to a host under baseten.co only."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "wss" and (host == "baseten.co" or host.endswith(".baseten.co"))


def check_ws_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url}")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_id(what: str, value: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(f"{what} may only hold letters, digits, '-' and '_': {value!r}")
