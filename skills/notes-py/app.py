# A first-party Chitin skill in Python (componentize-py): notes in the
# granted directory through plain open(), and a web fetch through wasi:http,
# so the host's allow-list, address checks and secret rules apply exactly as
# they do to Rust skills. (urllib cannot work: it needs raw sockets, which
# skills never get.)
import json
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import chitin_skill_types as t
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as ht

ROOT = "/workspace/"


def schema(**props: str) -> str:
    return json.dumps({"type": "object", "required": list(props),
                       "properties": {k: {"type": v} for k, v in props.items()}})


class Tools(exports.Tools):
    def list_tools(self) -> list[t.Tool]:
        return [
            t.Tool("read", "Read a note (a UTF-8 file) from the notes directory.",
                   schema(path="string"), [t.Effect_ReadsFiles()]),
            t.Tool("write", "Write a note to the notes directory.",
                   schema(path="string", content="string"), [t.Effect_WritesFiles()]),
            t.Tool("fetch", "GET a web page (only hosts the user granted).",
                   json.dumps({"type": "object", "required": ["url"],
                               "properties": {"url": {"type": "string"},
                                              "headers": {"type": "object"}}}),
                   [t.Effect_Network()]),
            t.Tool("spin", "Loop forever (used to test the CPU limit).", "{\"type\":\"object\"}", []),
        ]

    def call(self, name: str, input: str) -> str:
        try:
            args = json.loads(input)
            if not isinstance(args, dict):
                raise ValueError("expected a JSON object")
        except ValueError as e:
            raise Err(t.ToolError_InvalidInput(str(e)))
        try:
            if name == "read":
                with open(ROOT + str(args["path"]), encoding="utf-8") as f:
                    return f.read()
            if name == "write":
                with open(ROOT + str(args["path"]), "w", encoding="utf-8") as f:
                    f.write(str(args["content"]))
                return json.dumps({"written": len(str(args["content"]))})
            if name == "fetch":
                return fetch(str(args["url"]), args.get("headers") or {})
            if name == "spin":
                n = 0
                while True:
                    n += 1
        except Err:
            raise
        except KeyError as e:
            raise Err(t.ToolError_InvalidInput(f"missing field {e}"))
        except PermissionError as e:
            raise Err(t.ToolError_Denied(str(e)))
        except Exception as e:  # an uncaught exception would crash the call
            raise Err(t.ToolError_Failed(f"{type(e).__name__}: {e}"))
        raise Err(t.ToolError_UnknownTool(name))


def fetch(url: str, headers: dict) -> str:
    """GET `url` over wasi:http; returns "<status> <body>"."""
    u = urlsplit(url)
    fields = [("user-agent", b"chitin-notes-py")]
    fields += [(str(k).lower(), str(v).encode()) for k, v in headers.items()]
    try:
        req = ht.OutgoingRequest(ht.Fields.from_list(fields))
    except Err as e:
        raise Err(t.ToolError_Denied(f"header refused by the host: {e.value}"))
    req.set_scheme(ht.Scheme_Https() if u.scheme == "https" else ht.Scheme_Http())
    req.set_authority(u.netloc)
    req.set_path_with_query((u.path or "/") + ("?" + u.query if u.query else ""))
    try:
        fut = outgoing_handler.handle(req, None)
    except Err as e:
        raise Err(t.ToolError_Denied(f"{url}: refused by the host ({e.value})"))
    fut.subscribe().block()
    res = fut.get()
    if not isinstance(res, Ok) or not isinstance(res.value, Ok):
        err = res.value if isinstance(res, Ok) else res
        code = getattr(err, "value", err)
        if isinstance(code, ht.ErrorCode_HttpRequestDenied):
            raise Err(t.ToolError_Denied(f"{url}: refused by the host"))
        raise Err(t.ToolError_Failed(f"{url}: {code}"))
    resp = res.value.value
    body = resp.consume()
    out = bytearray()
    # The stream is a child of the body: drop it first (the `with`).
    with body.stream() as stream:
        while True:
            try:
                out += stream.blocking_read(16384)
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise
    return f"{resp.status()} {out.decode(errors='replace')}"
