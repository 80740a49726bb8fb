# Chitin's Python interpreter component: one tool, `run`, that executes
# untrusted Python code with CPython (bundled by componentize-py) inside
# the sandbox. Everything the code can reach is what the host grants for
# the call: files under the mounts (/scratch, /skill), HTTP through
# `chitin_http` (wasi:http, checked by the host), nothing else. The host
# makes a fresh instance per call, so nothing the code does outlives it.
#
# The code's mistakes (exceptions, SystemExit, syntax errors) are results
# with exit_code != 0, never tool errors: only malformed input is.
import ast
import builtins
import io
import json
import linecache
import os
import sys
import tempfile
import traceback

import chitin_http  # noqa: F401  (bundled so the code can `import chitin_http`)
import interp_preload  # noqa: F401  (the standard library the code may import)
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import chitin_skill_types as t

# Most bytes kept of each stream (and of `result`); the rest is dropped.
CAP = 64 * 1024
DEFAULT_CWD = "/scratch"

SCHEMA = json.dumps({
    "type": "object",
    "required": ["code"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "description": "Python source to run"},
        "filename": {"type": "string",
                     "description": "shown in tracebacks; its directory goes first on sys.path"},
        "args": {"type": "array", "items": {"type": "string"}, "description": "sys.argv[1:]"},
        "stdin": {"type": "string", "description": "what sys.stdin reads"},
        "cwd": {"type": "string", "description": "working directory (default /scratch if it exists)"},
    },
})

DESCRIPTION = (
    "Run Python 3 code in a sandbox and return JSON {stdout, stderr, exit_code, result, "
    "truncated}; `result` is the repr of a final expression, like a REPL. No processes, "
    "threads or sockets; files only under /scratch (and /skill, read-only) when granted; "
    "HTTP through `from chitin_http import fetch` to granted hosts only."
)


class Capped(io.TextIOBase):
    """A text stream that keeps its first CAP bytes (UTF-8) and counts the rest."""

    def __init__(self):
        self.buf = bytearray()
        self.cut = False

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = CAP - len(self.buf)
        if room > 0:
            data = s.encode("utf-8", "surrogateescape")
            self.buf += data[:room]
            if len(data) > room:
                self.cut = True
        elif s:
            self.cut = True
        return len(s)

    def text(self):
        # A cut in the middle of a character drops that character.
        return self.buf.decode("utf-8", "ignore")


def capped(text):
    """`text` cut to CAP bytes, and whether it was cut."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= CAP:
        return text, False
    return data[:CAP].decode("utf-8", "ignore"), True


def invalid(message):
    return Err(t.ToolError_InvalidInput(message))


def parse(input):
    """The validated request, or an invalid-input error saying what is wrong."""
    try:
        req = json.loads(input)
    except ValueError as e:
        raise invalid(f"input is not JSON: {e}")
    if not isinstance(req, dict):
        raise invalid("input must be a JSON object with a `code` string")
    unknown = sorted(set(req) - {"code", "filename", "args", "stdin", "cwd"})
    if unknown:
        raise invalid(f"unknown field(s) {', '.join(unknown)}: expected code, filename, args, stdin, cwd")
    if not isinstance(req.get("code"), str):
        raise invalid("`code` (a string of Python source) is required")
    for key in ("filename", "stdin", "cwd"):
        if key in req and req[key] is not None and not isinstance(req[key], str):
            raise invalid(f"`{key}` must be a string")
    args = req.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise invalid("`args` must be an array of strings")
    return req["code"], req.get("filename") or "<string>", args, req.get("stdin") or "", req.get("cwd")


def compile_split(code, filename):
    """The code compiled as (body, last expression or None), REPL-style."""
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec", dont_inherit=True)
    return body, (compile(last, filename, "eval", dont_inherit=True) if last else None)


def exit_status(e):
    """The exit code of SystemExit `e` (a non-int code is printed, like CPython)."""
    if e.code is None:
        return 0
    if isinstance(e.code, bool) or not isinstance(e.code, int):
        print(e.code, file=sys.stderr)
        return 1
    return e.code


def user_frames(tb):
    """`tb` without this file's frames at its start (the code's own frames)."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def run(code, filename, args, stdin, cwd):
    out, err = Capped(), Capped()
    result = None
    exit_code = 0
    saved = (sys.stdout, sys.stderr, sys.stdin, sys.argv, list(sys.path))
    sys.stdout, sys.stderr, sys.stdin = out, err, io.StringIO(stdin)
    sys.argv = [filename] + args
    if filename != "<string>":
        sys.path.insert(0, os.path.dirname(filename) or ".")
    # Source lines for tracebacks, also for code that is not in a file.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    env = {"__name__": "__main__", "__builtins__": builtins, "__file__": filename}
    try:
        if cwd is not None:
            os.chdir(cwd)
        elif os.path.isdir(DEFAULT_CWD):
            os.chdir(DEFAULT_CWD)
        if os.path.isdir(DEFAULT_CWD):
            # WASI has no /tmp: temporary files go to the scratch mount.
            tempfile.tempdir = DEFAULT_CWD
        body, last = compile_split(code, filename)
        exec(body, env)
        if last is not None:
            value = eval(last, env)
            if value is not None:
                result = repr(value)
    except SystemExit as e:
        exit_code = exit_status(e)
    except BaseException as e:
        exit_code = 1
        try:
            traceback.print_exception(type(e), e, user_frames(e.__traceback__))
        except BaseException:  # an exception whose __str__ raises, say
            err.write("uncaught exception (its traceback could not be printed)\n")
    finally:
        for stream in (out, err):
            try:
                stream.flush()
            except Exception:
                pass
        sys.stdout, sys.stderr, sys.stdin, sys.argv = saved[:4]
        sys.path[:] = saved[4]
    truncated = out.cut or err.cut
    if result is not None:
        result, cut = capped(result)
        truncated = truncated or cut
    return json.dumps({"stdout": out.text(), "stderr": err.text(), "exit_code": exit_code,
                       "result": result, "truncated": truncated})


class Tools(exports.Tools):
    def list_tools(self) -> list[t.Tool]:
        return [t.Tool("run", DESCRIPTION, SCHEMA, [t.Effect_ReadsFiles(), t.Effect_WritesFiles(),
                                                    t.Effect_Network()])]

    def call(self, name: str, input: str) -> str:
        if name != "run":
            raise Err(t.ToolError_UnknownTool(name))
        return run(*parse(input))
