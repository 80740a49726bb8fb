# A Chitin skill in Python, built with componentize-py.
# Files: plain open() on the guest paths you request (e.g. /workspace/...).
# HTTP: `from chitin_http import fetch` (added by `chitin skill build`):
#   resp = fetch("https://api.example.com/x", method="POST", body=b"...")
#   resp.status, resp.text(), resp.json()
# Import every module at the top: only top-level imports are bundled.
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import chitin_skill_types as t


class Tools(exports.Tools):
    def list_tools(self) -> list[t.Tool]:
        schema = json.dumps({"type": "object", "required": ["name"],
                             "properties": {"name": {"type": "string"}}})
        return [t.Tool("greet", "Say hello to someone.", schema, [])]

    def call(self, name: str, input: str) -> str:
        try:
            args = json.loads(input)
        except ValueError as e:
            raise Err(t.ToolError_InvalidInput(str(e)))
        try:
            if name == "greet":
                return "hello, " + str(args["name"])
        except Err:
            raise
        except Exception as e:  # an uncaught exception would crash the call
            raise Err(t.ToolError_Failed(f"{type(e).__name__}: {e}"))
        raise Err(t.ToolError_UnknownTool(name))
