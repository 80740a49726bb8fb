#!/usr/bin/env python3
"""A remote MCP server for the integration tests, built with the official
Python MCP SDK (mcp 2.x, or 1.x), served over Streamable HTTP at /mcp.

    python server.py --port 0 --tools TOOLS.json --token TOKEN [--log FILE]
                     [--redirect-to URL] [--no-stdin-watch]

TOOLS.json is a JSON list of {"name", "description", "inputSchema"} (other
Tool fields pass through). Calling a tool answers one text content, the JSON
{"tool": name, "arguments": args}; an unknown tool is a JSON-RPC error
-32602. The file is watched: replace it (atomically, by rename) and the new
list is served, with notifications/tools/list_changed sent to every
2025-era session that has listed tools and, under mcp 2.x, to every
2026-07-28 subscriptions/listen stream.

Every request without "Authorization: Bearer TOKEN" gets HTTP 401 before
the SDK sees it. --redirect-to answers every request with a 307 to
that URL instead. --log appends one JSON line per HTTP request (method,
path, whether an Authorization header came and was right, MCP headers,
JSON-RPC methods, status) and never the token itself.

Prints "PORT <n>" once it accepts connections. Binds 127.0.0.1 only. Exits
when stdin reaches EOF (a test that dies cannot leak it) or on SIGTERM.
"""

import argparse
import asyncio
import importlib.metadata
import json
import os
import socket
import sys
import threading
import time

SDK = importlib.metadata.version("mcp")
MAJOR = int(SDK.split(".")[0])
NAME = "chitin-test-remote"


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Run with the mcp2 virtualenv (target/toolchains/mcp2); mcp 1.x works too.",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    p.add_argument("--tools", required=True, help="JSON file: list of {name, description, inputSchema}")
    p.add_argument("--token", required=True, help="the Bearer token every request must carry")
    p.add_argument("--log", help="append one JSON line per HTTP request to this file")
    p.add_argument("--redirect-to", help="answer every request with 307 Location: URL")
    p.add_argument("--no-stdin-watch", action="store_true", help="do not exit when stdin closes")
    return p.parse_args()


def tool_text(name, arguments):
    return json.dumps({"tool": name, "arguments": arguments or {}}, sort_keys=True)


def unknown_tool(name):
    return f"Unknown tool: {name}"


class ToolSource:
    """The tools file, re-read when it changes; `announce` is set by the
    SDK-specific app to tell connected clients."""

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.defs = []
        self.sessions = set()  # 2025-era sessions that listed tools
        self.announce = None
        self.reload()

    def reload(self):
        st = os.stat(self.path)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self.stamp:
            return False
        with open(self.path, encoding="utf-8") as f:
            self.defs = json.load(f)
        self.stamp = stamp
        return True

    async def watch(self):
        while True:
            await asyncio.sleep(0.2)
            try:
                changed = self.reload()
            except (OSError, ValueError):
                continue  # mid-write or gone: keep the last good list
            if changed and self.announce:
                await self.announce()


async def notify_sessions(source, send):
    for session in list(source.sessions):
        try:
            await send(session)
        except Exception:  # a session that went away
            source.sessions.discard(session)


def declare_list_changed(server, NotificationOptions):
    """Both SDKs take the initialize capabilities from this method with
    default options (tools.listChanged false); default to true instead."""
    original = server.create_initialization_options

    def with_list_changed(notification_options=None, *args, **kwargs):
        return original(notification_options or NotificationOptions(tools_changed=True), *args, **kwargs)

    server.create_initialization_options = with_list_changed


def build_app_v2(source):
    import mcp.types as types
    from mcp.server.lowlevel import NotificationOptions, Server
    from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
    from mcp.shared.exceptions import MCPError

    bus = InMemorySubscriptionBus()

    async def list_tools(ctx, params):
        if ctx.protocol_version != "2026-07-28":
            source.sessions.add(ctx.session)
        return types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in source.defs])

    async def call_tool(ctx, params):
        if params.name not in {t["name"] for t in source.defs}:
            raise MCPError(code=types.INVALID_PARAMS, message=unknown_tool(params.name))
        text = tool_text(params.name, params.arguments)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    server = Server(
        NAME,
        version=SDK,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(bus),
    )
    # Declare tools.listChanged at 2025-11-25 too (2026-07-28 derives it
    # from subscriptions/listen being served).
    declare_list_changed(server, NotificationOptions)

    async def announce():
        await bus.publish(ToolsListChanged())
        await notify_sessions(source, lambda s: s.send_tool_list_changed())

    source.announce = announce
    # The default DNS-rebinding guard for host 127.0.0.1 admits 127.0.0.1:*
    # and localhost:* Host headers, which is what a local client sends.
    return server.streamable_http_app(host="127.0.0.1")


def build_app_v1(source):
    import mcp.types as types
    from mcp.server.fastmcp.server import StreamableHTTPASGIApp
    from mcp.server.lowlevel import NotificationOptions, Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from mcp.shared.exceptions import McpError
    from starlette.applications import Starlette
    from starlette.routing import Route

    server = Server(NAME, version=SDK)

    @server.list_tools()
    async def list_tools():
        source.sessions.add(server.request_context.session)
        return [types.Tool.model_validate(t) for t in source.defs]

    # No input validation: the tests want to see exactly what arrived.
    @server.call_tool(validate_input=False)
    async def call_tool(name, arguments):
        if name not in {t["name"] for t in source.defs}:
            raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message=unknown_tool(name)))
        return [types.TextContent(type="text", text=tool_text(name, arguments))]

    declare_list_changed(server, NotificationOptions)
    source.announce = lambda: notify_sessions(source, lambda s: s.send_tool_list_changed())

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*"],
    )
    manager = StreamableHTTPSessionManager(app=server, security_settings=security)
    # A Route, not a Mount: Mount("/mcp") would redirect /mcp to /mcp/.
    return Starlette(
        routes=[Route("/mcp", endpoint=StreamableHTTPASGIApp(manager))],
        lifespan=lambda app: manager.run(),
    )


class Gate:
    """ASGI wrapper: request log, redirect mode and the Bearer check, all
    before the SDK sees a byte of the request."""

    def __init__(self, inner, token, log_path, redirect_to):
        self.inner = inner
        self.expected = f"Bearer {token}"
        self.log_path = log_path
        self.redirect_to = redirect_to

    def write_log(self, entry):
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization")
        entry = {
            "time": round(time.time(), 3),
            "method": scope["method"],
            "path": scope["path"],
            "auth_present": auth is not None,
            "auth_ok": auth == self.expected,
        }
        for h in ("mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name", "accept"):
            if h in headers:
                entry[h] = headers[h]
        logged = False

        async def send_logged(message):
            nonlocal logged
            if message["type"] == "http.response.start" and not logged:
                logged = True
                self.write_log({**entry, "status": message["status"]})
            await send(message)

        try:
            if self.redirect_to:
                return await respond(send_logged, 307, b"", [(b"location", self.redirect_to.encode())])
            if not entry["auth_ok"]:
                return await respond(
                    send_logged,
                    401,
                    b'{"error":"unauthorized"}',
                    [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                )
            receive = await self.peek_rpc(receive, entry)
            await self.inner(scope, receive, send_logged)
        finally:
            if not logged:
                self.write_log({**entry, "status": None})

    @staticmethod
    async def peek_rpc(receive, entry):
        """Read the (small) request body to log its JSON-RPC methods, then
        hand the SDK a receive() that replays it."""
        chunks, more = [], True
        first = None
        while more:
            message = await receive()
            if message["type"] != "http.request":
                first = message
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            parsed = json.loads(body) if body else None
            batch = parsed if isinstance(parsed, list) else [parsed]
            methods = [m.get("method") or "(response)" for m in batch if isinstance(m, dict)]
            if methods:
                entry["rpc"] = methods
        except ValueError:
            pass
        replay = [first or {"type": "http.request", "body": body, "more_body": False}]

        async def replaying_receive():
            return replay.pop() if replay else await receive()

        return replaying_receive


async def respond(send, status, body, headers):
    headers = headers + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve(args):
    import uvicorn

    source = ToolSource(args.tools)
    inner = build_app_v2(source) if MAJOR >= 2 else build_app_v1(source)
    app = Gate(inner, args.token, args.log, args.redirect_to)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2, access_log=False
    )
    server = uvicorn.Server(config)

    if not args.no_stdin_watch:
        loop = asyncio.get_running_loop()

        def watch_stdin():
            # Blocks until the parent closes our stdin (or dies).
            while sys.stdin.buffer.read(65536):
                pass
            loop.call_soon_threadsafe(setattr, server, "should_exit", True)
            # Backstop if a graceful shutdown hangs on an open stream.
            time.sleep(5)
            os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()

    async def announce():
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.02)
        print(f"PORT {port}", flush=True)

    tasks = [asyncio.create_task(announce()), asyncio.create_task(source.watch())]
    await server.serve(sockets=[sock])
    for task in tasks:
        task.cancel()


def main():
    args = parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
