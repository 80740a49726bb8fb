"""HTTP for Chitin skills in Python, over wasi:http.

`chitin skill build` puts this module on the path of every Python skill:

    from chitin_http import fetch
    resp = fetch("https://api.example.com/items", method="POST",
                 headers={"content-type": "application/json"}, body=b"{}")
    resp.status, resp.headers, resp.body, resp.text(), resp.json()

Every request goes through the host: only the hosts the user granted, no
private or loopback addresses (checked after DNS), and credentials injected
by the host, never visible here. A request the host refuses raises
`Err(ToolError_Denied)`, other failures `Err(ToolError_Failed)`: let them
propagate and the model is told why.
`urllib` and `http.client` cannot work in a skill: they need raw sockets,
which skills never get.
"""

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import chitin_skill_types as t
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as ht

__all__ = ["fetch", "Response"]

_METHODS = {
    "GET": ht.Method_Get, "HEAD": ht.Method_Head, "POST": ht.Method_Post,
    "PUT": ht.Method_Put, "DELETE": ht.Method_Delete, "PATCH": ht.Method_Patch,
    "OPTIONS": ht.Method_Options,
}
_CHUNK = 4096


@dataclass
class Response:
    """A response, read whole."""
    status: int
    headers: list = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str):
        """The first value of header `name` (any case), or None."""
        name = name.lower()
        return next((v.decode(errors="replace") for k, v in self.headers if k == name), None)

    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body)


def _refused(message: str) -> Err:
    """The `denied` tool error for a request the host refused."""
    return Err(t.ToolError_Denied(message))


def _invalid(message: str) -> Err:
    return Err(t.ToolError_InvalidInput(message))


def _failed(message: str) -> Err:
    return Err(t.ToolError_Failed(message))


def fetch(url: str, method: str = "GET", headers=None, body=None,
          max_bytes: int = 16 * 1024 * 1024) -> Response:
    """Send one request and read the whole response (at most `max_bytes`)."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise _invalid(f"{url}: expected an http(s) URL")
    make_method = _METHODS.get(method.upper())
    if make_method is None:
        raise _invalid(f"{method}: unsupported HTTP method")
    if isinstance(body, str):
        body = body.encode()
    # The length is always the body's own (a wrong one would fail the send).
    fields = [("user-agent", b"chitin-skill")]
    fields += [(str(k).lower(), str(v).encode()) for k, v in (headers or {}).items()
               if str(k).lower() != "content-length"]
    if body is not None:
        fields.append(("content-length", str(len(body)).encode()))
    try:
        req = ht.OutgoingRequest(ht.Fields.from_list(fields))
    except Err as e:
        if isinstance(e.value, ht.HeaderError_Forbidden):
            raise _refused("a header was refused by the host (it is reserved, e.g. for a secret)")
        raise _invalid(f"invalid header: {e.value}")
    try:
        req.set_method(make_method())
        req.set_scheme(ht.Scheme_Https() if u.scheme == "https" else ht.Scheme_Http())
        req.set_authority(u.netloc)
        req.set_path_with_query((u.path or "/") + ("?" + u.query if u.query else ""))
    except Err:
        raise _invalid(f"{url}: not a valid request URL")
    out_body = req.body()
    try:
        future = outgoing_handler.handle(req, None)
    except Err as e:
        if isinstance(e.value, ht.ErrorCode_HttpRequestDenied):
            raise _refused(f"{url}: refused by the host")
        raise _failed(f"{url}: {e.value}")
    _send_body(out_body, body or b"", url)
    with future.subscribe() as ready:
        ready.block()
    result = future.get()
    if not isinstance(result, Ok) or not isinstance(result.value, Ok):
        err = result.value if isinstance(result, Ok) else result
        code = getattr(err, "value", err)
        if isinstance(code, ht.ErrorCode_HttpRequestDenied):
            raise _refused(f"{url}: refused by the host")
        raise _failed(f"{url}: {code}")
    with result.value.value as resp:
        with resp.headers() as h:
            entries = h.entries()
        return Response(resp.status(), entries, _read_body(resp, max_bytes, url))


def _send_body(out_body, data: bytes, url: str) -> None:
    try:
        # The stream is a child of the body: drop it (the `with`) before finish.
        with out_body.write() as stream:
            for i in range(0, len(data), _CHUNK):
                stream.blocking_write_and_flush(data[i:i + _CHUNK])
        ht.OutgoingBody.finish(out_body, None)
    except Err as e:
        raise _failed(f"{url}: sending the body: {e.value}")


def _read_body(resp, max_bytes: int, url: str) -> bytes:
    out = bytearray()
    with resp.consume() as body:
        with body.stream() as stream:
            while True:
                try:
                    out += stream.blocking_read(65536)
                except Err as e:
                    if isinstance(e.value, streams.StreamError_Closed):
                        break
                    raise _failed(f"{url}: reading the body: {e.value}")
                if len(out) > max_bytes:
                    raise _failed(f"{url}: response over {max_bytes} bytes")
    return bytes(out)
