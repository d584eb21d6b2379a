"""A small synchronous client of a running daemon's HTTP API, for the command line.

Where the daemon is: an explicit URL (`--api`, `HERALD_URL` or the older `HERALD_API_URL`),
else the `[api]` host and port of the configuration (`--config FILE` and `HERALD_API_...`
overrides), else
http://127.0.0.1:8080. The API key goes in the `Authorization` header and nowhere else: no
message, repr or error of this module contains it.

Failures are two exceptions: ApiError (the API answered with its error body) and Unreachable
(no answer at all; for "connection refused" the message says how to start the daemon).
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from herald import __version__

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "http://127.0.0.1:8080"
TIMEOUT = 30.0
UPLOAD_READ_TIMEOUT = 600.0  # the daemon answers once it has read every row of the file
DOWNLOAD_READ_TIMEOUT = 300.0  # between two chunks of an export (each is one query)
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ClientError(Exception):
    """A request that did not succeed; str() is for a person."""


class Unreachable(ClientError):
    """No HTTP answer: nothing listening, a timeout, a broken connection."""


class ApiError(ClientError):
    """The API answered an error: {"error": {"code", "message", "details"}}."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def api_root(url: str) -> str:
    """'host:8080', 'http://host:8080/' or 'http://host:8080/v1' -> 'http://host:8080'."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"not an http(s) URL: {url!r}")
    return url


def configured_api_url(config_path: str | None, env: Mapping[str, str]) -> str:
    """The daemon's URL from its configuration: `[api] host/port` of `config_path` (or the
    defaults) with HERALD_ overrides. A wildcard listen address is reached on loopback."""
    from herald.config import load_config

    config = load_config(config_path, env)  # it leaves the client's own variables alone
    where = config_path or "the default configuration"
    if not config.api.enabled:
        raise ClientError(f"{where} has [api] enabled = false: no API to talk to")
    if config.api.port == 0:
        raise ClientError(f"{where} has [api] port = 0 (any free port): give --api URL")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
        config.api.host, config.api.host
    )
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.api.port}"


def resolve_api_url(api: str | None, config_path: str | None, env: Mapping[str, str]) -> str:
    if api:
        return api_root(api)
    from herald.config import CLIENT_VARIABLES

    if config_path is not None or any(
        k.startswith("HERALD_API_") and k not in CLIENT_VARIABLES for k in env
    ):
        return configured_api_url(config_path, env)
    return DEFAULT_API_URL


class ApiClient:
    """Requests under `<root>/v1` with one account's key; answers are decoded JSON."""

    def __init__(self, root: str, key: str, *, timeout: float = TIMEOUT) -> None:
        import httpx

        self.root = api_root(root)
        self._http = httpx.Client(
            base_url=self.root + "/v1",
            timeout=httpx.Timeout(timeout, connect=5.0),
            headers={"Authorization": f"Bearer {key}", "User-Agent": f"herald-cli/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"ApiClient({self.root!r})"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Any = None) -> Any:
        return self._send(self._http.build_request("GET", path, params=params))

    def post(self, path: str, body: Any = None) -> Any:
        return self._send(self._http.build_request("POST", path, json=body))

    def patch(self, path: str, body: Any) -> Any:
        return self._send(self._http.build_request("PATCH", path, json=body))

    def delete(self, path: str) -> Any:
        return self._send(self._http.build_request("DELETE", path))

    def upload(
        self,
        path: str,
        file: Path,
        fields: Mapping[str, Any],
        advance: Callable[[int, int], None] = lambda sent, total: None,
    ) -> Any:
        """POST `file` as multipart/form-data with `fields`; `advance(sent, total)` is called
        as each chunk of the body goes out (bytes so far, of the whole body). Returns the
        decoded answer."""
        import httpx

        mime = (
            _XLSX
            if file.suffix.lower() == ".xlsx"
            else (mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        )
        with file.open("rb") as fh:
            encoded = self._http.build_request(
                "POST", path, data=dict(fields), files={"file": (file.name, fh, mime)}
            )

            total = int(encoded.headers.get("Content-Length", 0))
            stream = encoded.stream
            if not isinstance(stream, httpx.SyncByteStream):  # a multipart body is both kinds
                raise TypeError(f"httpx built a {type(stream).__name__}, not a sync stream")

            def body() -> Iterator[bytes]:
                sent = 0
                for chunk in stream:
                    yield chunk  # resumed once the transport has taken it
                    sent += len(chunk)
                    advance(sent, max(total, sent))

            # Same headers (multipart boundary, Content-Length), body streamed through body().
            request = self._http.build_request(
                "POST", path, headers=encoded.headers, content=body()
            )
            request.extensions["timeout"] = httpx.Timeout(
                TIMEOUT, connect=5.0, read=UPLOAD_READ_TIMEOUT
            ).as_dict()
            return self._send(request)

    def download(
        self,
        path: str,
        sink: BinaryIO,
        advance: Callable[[bytes], None] = lambda chunk: None,
        on_headers: Callable[[dict[str, str]], None] = lambda headers: None,
    ) -> None:
        """GET `path` and write its body to `sink` as it streams in: `on_headers` gets the
        answer's headers first, `advance` each chunk once written. An error answer raises
        ApiError before anything is written."""
        import httpx

        request = self._http.build_request("GET", path)
        request.extensions["timeout"] = httpx.Timeout(
            TIMEOUT, connect=5.0, read=DOWNLOAD_READ_TIMEOUT
        ).as_dict()
        try:
            response = self._http.send(request, stream=True)
        except httpx.ConnectError as exc:
            raise Unreachable(_not_running(self.root, exc)) from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"talking to {self.root} failed: {exc}") from None
        try:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            on_headers(dict(response.headers))
            for chunk in response.iter_bytes():
                sink.write(chunk)
                advance(chunk)
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"the download from {self.root} broke off ({exc}); what was written is incomplete"
            ) from None
        finally:
            response.close()

    def _send(self, request: httpx.Request) -> Any:
        import httpx

        try:
            response = self._http.send(request)
        except httpx.ConnectError as exc:
            raise Unreachable(_not_running(self.root, exc)) from None
        except httpx.TimeoutException:
            raise Unreachable(
                f"the herald daemon at {self.root} did not answer in time "
                f"({request.method} {request.url.path})"
            ) from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"talking to {self.root} failed: {exc}") from None
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"{self.root} answered {request.method} {request.url.path} "
                "with something that is not JSON: is it a herald daemon?"
            ) from None


def _not_running(root: str, exc: Exception) -> str:
    refused = isinstance(exc.__context__, ConnectionRefusedError) or "refused" in str(exc)
    why = "connection refused" if refused else str(exc) or type(exc).__name__
    return (
        f"the herald daemon is not running at {root} ({why}). Start it with `make run` "
        "or `herald run --config FILE`, or point --api / HERALD_URL at it."
    )


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(
            response.status_code, str(error["code"]), str(error["message"]), error.get("details")
        )
    except (ValueError, KeyError, TypeError):
        text = " ".join(response.text.split())[:200] or response.reason_phrase
        return ApiError(response.status_code, f"http_{response.status_code}", text)


def shorten(value: Any, limit: int = 300) -> str:
    """Compact JSON of `value`, cut at `limit` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
