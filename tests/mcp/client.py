#!/usr/bin/env python3
"""An MCP test client on the official Python MCP SDK, mcp 1.x or 2.x alike.

    python client.py PLAN_JSON        (a JSON string, or @FILE)

The plan:
  {"transport": "stdio", "command": ["/path/chitin", "mcp"], "env": {...}}
  {"transport": "http", "url": "http://127.0.0.1:PORT/mcp", "token": "..."|null}
  "elicitation": "accept" | "decline" | "none"   (none: capability not declared)
  "elicitation_content": {...}    optional: the exact content to accept with
  "era": "auto" | "2025-11-25" | "2026-07-28"    (mcp 1.x speaks 2025-11-25 only)
  "timeout": 60                   overall bound in seconds (default 60)
  "trace_http": true              optional: add the HTTP requests sent to the output
  "steps": [{"op": "list_tools"},
            {"op": "call", "name": "x__y", "arguments": {...}},
            {"op": "wait_list_changed", "timeout": 10},
            {"op": "raw", "method": "tools/call", "params": {...}},
            {"op": "sleep", "seconds": 1}]

Prints one JSON object on stdout: sdk, era_requested, era, protocol_version,
server_info, server_capabilities, results (one per step), elicitations,
list_changed. A step the server answered with a JSON-RPC error gives
{"error": {"code", "message"}} and the steps go on. A failure to connect, an
HTTP 401, a dropped connection or the overall timeout prints
{"fatal": "..."} (with whatever was gathered) and exits 3; a bad plan exits 2.
Before each step a line "step N OP" goes to stderr, so a test can act
(say, change the tools) while a wait_list_changed step is pending.

Stdio servers get this process's whole environment plus the plan's "env".
"""

import importlib.metadata
import json
import os
import sys
from contextlib import AsyncExitStack
from typing import Any, ClassVar

import anyio
from pydantic import BaseModel, ConfigDict

SDK = importlib.metadata.version("mcp")
MAJOR = int(SDK.split(".")[0])
REQUEST_TIMEOUT = 30.0  # per request; the plan's overall timeout bounds everything
OPS = {"list_tools", "call", "wait_list_changed", "raw", "sleep"}
MODERN = "2026-07-28"

import mcp.types as types  # noqa: E402

if MAJOR >= 2:
    import httpx2 as httpx
    from mcp.shared.exceptions import MCPError as McpError
else:
    import httpx
    from mcp.shared.exceptions import McpError


class Fatal(Exception):
    pass


class RawRequest(BaseModel):
    """Any method with any params, through the SDK's own request path (so a
    2026-07-28 request still gets its _meta and headers stamped)."""

    method: str
    params: dict[str, Any] | None = None
    name_param: ClassVar[str | None] = None  # read by mcp 2.x send_request


class RawResult(BaseModel):
    model_config = ConfigDict(extra="allow")


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True) if model is not None else None


def load_plan(arg):
    text = open(arg[1:], encoding="utf-8").read() if arg.startswith("@") else arg
    plan = json.loads(text)
    if plan.get("transport") not in ("stdio", "http"):
        raise ValueError('"transport" must be "stdio" or "http"')
    if plan["transport"] == "stdio" and not plan.get("command"):
        raise ValueError('stdio needs "command": [program, args...]')
    if plan["transport"] == "http" and not plan.get("url"):
        raise ValueError('http needs "url"')
    if plan.get("elicitation", "none") not in ("accept", "decline", "none"):
        raise ValueError('"elicitation" must be "accept", "decline" or "none"')
    if plan.get("era", "auto") not in ("auto", "2025-11-25", MODERN):
        raise ValueError('"era" must be "auto", "2025-11-25" or "2026-07-28"')
    for i, step in enumerate(plan.get("steps", [])):
        if step.get("op") not in OPS:
            raise ValueError(f"step {i}: op must be one of {sorted(OPS)}")
    return plan


class Run:
    def __init__(self, plan):
        self.plan = plan
        self.out = {
            "sdk": SDK,
            "era_requested": plan.get("era", "auto"),
            "results": [],
            "elicitations": [],
            "list_changed": 0,
        }
        self.seen_list_changed = 0
        self.http_statuses = []
        if plan.get("trace_http"):
            self.out["http"] = []

    # --- SDK callbacks -------------------------------------------------

    async def on_elicit(self, context, params):
        p = dump(params)
        self.out["elicitations"].append(
            {k: p[k] for k in ("mode", "message", "requestedSchema", "url") if k in p}
        )
        if self.plan.get("elicitation") == "decline":
            return types.ElicitResult(action="decline")
        content = self.plan.get("elicitation_content")
        if content is None:
            content = {}
            for key, prop in (p.get("requestedSchema") or {}).get("properties", {}).items():
                if prop.get("type") == "boolean":
                    content[key] = True
                elif "default" in prop:
                    content[key] = prop["default"]
        return types.ElicitResult(action="accept", content=content)

    async def on_message(self, message):
        # 1.x wraps notifications in a RootModel; 2.x hands the typed model.
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/tools/list_changed":
            self.out["list_changed"] += 1

    async def on_http_request(self, request):
        if "http" in self.out:
            keep = ("accept", "content-type", "mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name")
            self.out["http"].append(
                {
                    "method": request.method,
                    "headers": {k: request.headers[k] for k in keep if k in request.headers},
                    "authorization": "authorization" in request.headers,
                }
            )

    async def on_http_response(self, response):
        self.http_statuses.append(response.status_code)
        if response.status_code == 401:
            raise Fatal(f"HTTP 401 Unauthorized from {response.request.method} {response.request.url}")

    def http_client(self):
        headers = {}
        if self.plan.get("token"):
            headers["Authorization"] = f"Bearer {self.plan['token']}"
        client = httpx.AsyncClient(
            headers=headers,
            # The read timeout also bounds the quiet gaps on a held-open
            # event stream (GET or subscriptions/listen): outlast the run.
            timeout=httpx.Timeout(REQUEST_TIMEOUT, read=float(self.plan.get("timeout", 60)) + 5),
            event_hooks={"request": [self.on_http_request], "response": [self.on_http_response]},
        )
        return client

    def stdio_params(self):
        from mcp import StdioServerParameters

        cmd = self.plan["command"]
        env = {**os.environ, **(self.plan.get("env") or {})}
        return StdioServerParameters(command=cmd[0], args=list(cmd[1:]), env=env)

    # --- connecting, per SDK major -------------------------------------

    async def connect_v1(self, stack):
        from datetime import timedelta

        from mcp import ClientSession
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client

        if self.plan["transport"] == "stdio":
            read, write = await stack.enter_async_context(stdio_client(self.stdio_params()))
        else:
            http = await stack.enter_async_context(self.http_client())
            read, write, _ = await stack.enter_async_context(
                streamable_http_client(self.plan["url"], http_client=http)
            )
        session = await stack.enter_async_context(
            ClientSession(
                read,
                write,
                read_timeout_seconds=timedelta(seconds=REQUEST_TIMEOUT),
                elicitation_callback=self.on_elicit if self.plan.get("elicitation", "none") != "none" else None,
                message_handler=self.on_message,
                client_info=types.Implementation(name="chitin-mcp-tests", version=SDK),
            )
        )
        init = await session.initialize()
        self.session = session
        self.out["protocol_version"] = str(init.protocolVersion)
        self.out["era"] = f"{init.protocolVersion} handshake"
        self.out["server_info"] = dump(init.serverInfo)
        self.out["server_capabilities"] = dump(init.capabilities)

    async def connect_v2(self, stack):
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        era = self.plan.get("era", "auto")
        mode = {"auto": "auto", "2025-11-25": "legacy", MODERN: MODERN}[era]
        if self.plan["transport"] == "stdio":
            server = self.stdio_params()
        else:
            http = await stack.enter_async_context(self.http_client())
            server = streamable_http_client(self.plan["url"], http_client=http)
        client = Client(
            server,
            mode=mode,
            read_timeout_seconds=REQUEST_TIMEOUT,
            elicitation_callback=self.on_elicit if self.plan.get("elicitation", "none") != "none" else None,
            message_handler=self.on_message,
            client_info=types.Implementation(name="chitin-mcp-tests", version=SDK),
            cache=None,  # every list_tools step must reach the server
        )
        await stack.enter_async_context(client)
        if mode == MODERN:
            # mode="2026-07-28" alone adopts a made-up discover result; ask
            # the server for real, so a server without that era fails here.
            raw = await client.session.send_discover(MODERN)
            client.session.adopt(types.DiscoverResult.model_validate(raw))
        self.client = client
        self.session = client.session
        version = client.protocol_version
        self.out["protocol_version"] = version
        self.out["era"] = "2026-07-28 stateless" if version == MODERN else f"{version} handshake"
        self.out["server_info"] = dump(client.server_info)
        self.out["server_capabilities"] = dump(client.server_capabilities)
        if version == MODERN and any(s["op"] == "wait_list_changed" for s in self.plan.get("steps", [])):
            # At 2026-07-28 change notifications come only on a
            # subscriptions/listen stream, so open one up front.
            try:
                sub = await stack.enter_async_context(client.listen(tools_list_changed=True))
                self.out["listen"] = {"honored": dump(sub.honored)}
            except McpError as e:
                # Reported, not fatal: the waits will then time out.
                self.out["listen"] = {"error": {"code": e.error.code, "message": e.error.message}}

    # --- steps ---------------------------------------------------------

    async def list_tools(self):
        tools, cursor = [], None
        for _ in range(100):
            if MAJOR >= 2:
                page = await self.client.list_tools(cursor=cursor)
                cursor = page.next_cursor
            else:
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await self.session.list_tools(params=params)
                cursor = page.nextCursor
            tools += [dump(t) for t in page.tools]
            if not cursor:
                break
        return {"tools": [{k: t.get(k) for k in ("name", "description", "inputSchema")} for t in tools]}

    async def call(self, step):
        if MAJOR >= 2:
            result = await self.client.call_tool(step["name"], step.get("arguments"))
        else:
            result = await self.session.call_tool(step["name"], step.get("arguments"))
        d = dump(result)
        return {
            "isError": bool(d.get("isError", False)),
            "text": "\n".join(c["text"] for c in d.get("content", []) if c.get("type") == "text"),
            "structured": d.get("structuredContent"),
            "content": d.get("content", []),
        }

    async def raw(self, step):
        request = RawRequest(method=step["method"], params=step.get("params"))
        result = await self.session.send_request(request, RawResult)
        return {"result": result.model_dump(mode="json")}

    async def wait_list_changed(self, step):
        # Counts notifications since the previous wait (or since connecting).
        with anyio.move_on_after(float(step.get("timeout", 10))):
            while self.out["list_changed"] <= self.seen_list_changed:
                await anyio.sleep(0.02)
        got = self.out["list_changed"] > self.seen_list_changed
        self.seen_list_changed = self.out["list_changed"]
        return {"list_changed": got, "count": self.out["list_changed"]}

    async def step(self, step):
        op = step["op"]
        try:
            if op == "list_tools":
                return await self.list_tools()
            if op == "call":
                return await self.call(step)
            if op == "raw":
                return await self.raw(step)
            if op == "wait_list_changed":
                return await self.wait_list_changed(step)
            await anyio.sleep(float(step.get("seconds", 1)))
            return {"slept": step.get("seconds", 1)}
        except McpError as e:
            if 401 in self.http_statuses:
                raise Fatal("HTTP 401 Unauthorized") from e
            error = {"error": {"code": e.error.code, "message": e.error.message}}
            if e.error.code == types.CONNECTION_CLOSED:
                # Nothing after this can work; keep the step's own answer.
                self.out["results"].append(error)
                raise Fatal(f"connection closed during step {len(self.out['results']) - 1} ({op})") from e
            return error
        except Fatal:
            raise
        except Exception as e:  # a result the SDK would not accept, say
            return {"exception": f"{type(e).__name__}: {e}"}

    async def run(self):
        async with AsyncExitStack() as stack:
            await (self.connect_v2(stack) if MAJOR >= 2 else self.connect_v1(stack))
            for i, step in enumerate(self.plan.get("steps", [])):
                print(f"step {i} {step['op']}", file=sys.stderr, flush=True)
                self.out["results"].append(await self.step(step))


def describe(exc):
    """One line for an exception, looking inside exception groups (where
    the SDK's task groups put transport failures)."""
    leaves = []

    def walk(e):
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        elif isinstance(e, Fatal):
            leaves.insert(0, str(e))
        elif isinstance(e, McpError):
            leaves.append(f"JSON-RPC error {e.error.code}: {e.error.message}")
        else:
            leaves.append(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        if e.__cause__ is not None and not leaves:
            walk(e.__cause__)

    walk(exc)
    return "; ".join(dict.fromkeys(leaves)) or type(exc).__name__


async def main_async(plan):
    run = Run(plan)
    timeout = float(plan.get("timeout", 60))
    try:
        with anyio.fail_after(timeout):
            await run.run()
    except TimeoutError:
        run.out["fatal"] = f"overall timeout after {timeout:g} s"
    except BaseException as e:  # noqa: BLE001 - every failure becomes a fatal line
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        message = describe(e)
        if 401 in run.http_statuses and "401" not in message:
            message = f"HTTP 401 Unauthorized ({message})"
        run.out["fatal"] = message
    return run.out


def main():
    if sys.argv[1:] in (["-h"], ["--help"]):
        print(__doc__)
        sys.exit(0)
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        plan = load_plan(sys.argv[1])
    except (OSError, ValueError) as e:
        print(json.dumps({"fatal": f"bad plan: {e}"}))
        sys.exit(2)
    out = anyio.run(main_async, plan)
    print(json.dumps(out, sort_keys=True), flush=True)
    sys.exit(3 if "fatal" in out else 0)


if __name__ == "__main__":
    main()
