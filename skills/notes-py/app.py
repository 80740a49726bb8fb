# A first-party Chitin skill in Python (componentize-py): notes in the
# granted directory through plain open(), and web requests through
# chitin_http (wasi:http, put on the path by `chitin skill build`), so the
# host's allow-list, address checks and secret rules apply exactly as they
# do to Rust skills. (urllib cannot work: it needs raw sockets, which skills
# never get.)
import json

from chitin_http import fetch
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import chitin_skill_types as t

ROOT = "/workspace/"
TOOL_ERRORS = (t.ToolError_UnknownTool, t.ToolError_InvalidInput, t.ToolError_Denied,
               t.ToolError_Failed)


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
            t.Tool("fetch", "Send an HTTP request (only to hosts the user granted); "
                            "returns the status and the body.",
                   json.dumps({"type": "object", "required": ["url"],
                               "properties": {"url": {"type": "string"},
                                              "method": {"type": "string", "default": "GET"},
                                              "headers": {"type": "object"},
                                              "body": {"type": "string"}}}),
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
                resp = fetch(str(args["url"]), method=str(args.get("method") or "GET"),
                             headers=args.get("headers") or {}, body=args.get("body"))
                return f"{resp.status} {resp.text()}"
            if name == "spin":
                n = 0
                while True:
                    n += 1
        except Err as e:
            if isinstance(e.value, TOOL_ERRORS):
                raise
            raise Err(t.ToolError_Failed(str(e.value)))
        except KeyError as e:
            raise Err(t.ToolError_InvalidInput(f"missing field {e}"))
        except PermissionError as e:
            raise Err(t.ToolError_Denied(str(e)))
        except Exception as e:  # an uncaught exception would crash the call
            raise Err(t.ToolError_Failed(f"{type(e).__name__}: {e}"))
        raise Err(t.ToolError_UnknownTool(name))
