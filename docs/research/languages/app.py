import json
import urllib.request
import encodings.idna  # urllib looks it up dynamically; componentize-py only bundles what is imported
from urllib.parse import urlsplit

from componentize_py_types import Ok
from wit_world.imports import wasi_http_types as ht, outgoing_handler, streams

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import chitin_skill_types as t
from wit_world.imports import log


class Tools(exports.Tools):
    def list_tools(self) -> list[t.Tool]:
        obj = '{"type":"object"}'
        return [
            t.Tool("echo", "Return the input unchanged.", obj, []),
            t.Tool("read", "Read a file under /workspace.",
                   '{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}',
                   [t.Effect_ReadsFiles()]),
            t.Tool("urllib", "GET a URL with urllib.", obj, [t.Effect_Network()]),
            t.Tool("fetch", "GET a URL over wasi:http.", obj, [t.Effect_Network()]),
        ]

    def call(self, name: str, input: str) -> str:
        try:
            args = json.loads(input)
        except ValueError as e:
            raise Err(t.ToolError_InvalidInput(str(e)))
        if name == "echo":
            log.log(log.Level.INFO, "echo called")
            return json.dumps(args)
        if name == "read":
            path = args.get("path") if isinstance(args, dict) else None
            if not isinstance(path, str):
                raise Err(t.ToolError_InvalidInput("`path` must be a string"))
            try:
                with open("/workspace/" + path) as f:
                    return f.read()
            except PermissionError as e:
                raise Err(t.ToolError_Denied(str(e)))
            except OSError as e:
                raise Err(t.ToolError_Failed(str(e)))
        if name == "urllib":
            try:
                with urllib.request.urlopen(args["url"], timeout=5) as r:
                    return r.read().decode()
            except Exception as e:
                raise Err(t.ToolError_Failed(f"{type(e).__name__}: {e}"))
        if name == "fetch":
            return wasi_http_get(args["url"])
        raise Err(t.ToolError_UnknownTool(name))


def wasi_http_get(url: str) -> str:
    """GET `url` over wasi:http, synchronously (no asyncio / poll_loop)."""
    u = urlsplit(url)
    req = ht.OutgoingRequest(ht.Fields.from_list([("user-agent", b"chitin-py")]))
    req.set_scheme(ht.Scheme_Https() if u.scheme == "https" else ht.Scheme_Http())
    req.set_authority(u.netloc)
    req.set_path_with_query((u.path or "/") + ("?" + u.query if u.query else ""))
    try:
        fut = outgoing_handler.handle(req, None)
    except Err as e:
        raise Err(t.ToolError_Denied(f"http: {e.value}"))
    fut.subscribe().block()
    res = fut.get()
    if not isinstance(res, Ok) or not isinstance(res.value, Ok):
        err = res.value if isinstance(res, Ok) else res
        code = getattr(err, "value", err)
        if isinstance(code, ht.ErrorCode_HttpRequestDenied):
            raise Err(t.ToolError_Denied(f"http: {url}: request denied by the host"))
        raise Err(t.ToolError_Failed(f"http: {code}"))
    resp = res.value.value
    body = resp.consume()
    stream = body.stream()
    out = bytearray()
    while True:
        try:
            out += stream.blocking_read(16384)
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            raise
    return f"{resp.status()} {out.decode()}"
