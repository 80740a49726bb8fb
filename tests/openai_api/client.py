#!/usr/bin/env python3
"""A test client for the daemon's OpenAI-compatible endpoint, on the
official `openai` Python package (scripts/install-openai-sdk).

    python client.py PLAN_JSON        (a JSON string, or @FILE)

The plan:
  {"base_url": "http://127.0.0.1:PORT/v1", "api_key": "...", "timeout": 60,
   "steps": [{"op": "models"},
             {"op": "chat", "messages": [...], "model": "chitin",
              "stream": false, "include_usage": false,
              "after": N,           optional: continue step N's conversation
                                    (its messages, then its answer, then these)
              "api_key": "...",     optional: another key for this step
              "extra": {...}}]}     optional: more request fields (n, tools, ...)

Prints one JSON object on stdout: {"sdk": version, "results": [...]}, one
result per step:
  models: {"ids": [...]}
  chat:   {"content", "reasoning", "finish_reason", "usage", "session",
           "id", "object"} (streamed also "chunks", "first_role",
           "usage_chunks", "objects")
  any step the server refused: {"error": {"class", "status", "code", "param",
           "type", "message"}} (the SDK's exception), and the steps go on.
A bad plan exits 2.
"""

import importlib.metadata
import json
import sys

import openai

SDK = importlib.metadata.version("openai")


def error(e):
    out = {"class": type(e).__name__, "message": str(e)}
    for field in ("status_code", "code", "param", "type"):
        value = getattr(e, field, None)
        if value is not None:
            out["status" if field == "status_code" else field] = value
    return out


def usage(u):
    return None if u is None else u.model_dump()


def whole(raw):
    c = raw.parse()
    choice = c.choices[0]
    extra = choice.message.model_extra or {}
    return {
        "id": c.id,
        "object": c.object,
        "model": c.model,
        "content": choice.message.content,
        "reasoning": extra.get("reasoning_content"),
        "finish_reason": choice.finish_reason,
        "usage": usage(c.usage),
        "session": raw.headers.get("x-chitin-session"),
    }


def streamed(raw):
    out = {
        "content": "",
        "reasoning": "",
        "finish_reason": None,
        "usage": None,
        "chunks": 0,
        "first_role": None,
        "usage_chunks": 0,
        "objects": [],
        "session": raw.headers.get("x-chitin-session"),
    }
    for chunk in raw.parse():
        out["chunks"] += 1
        out["id"] = chunk.id
        if chunk.object not in out["objects"]:
            out["objects"].append(chunk.object)
        if chunk.usage is not None:
            out["usage"] = usage(chunk.usage)
            out["usage_chunks"] += 1
        for choice in chunk.choices:
            delta = choice.delta
            if out["chunks"] == 1:
                out["first_role"] = delta.role
            if delta.content:
                out["content"] += delta.content
            reasoning = (delta.model_extra or {}).get("reasoning_content")
            if reasoning:
                out["reasoning"] += reasoning
            if choice.finish_reason is not None:
                out["finish_reason"] = choice.finish_reason
    return out


def main():
    if len(sys.argv) != 2:
        print("usage: client.py PLAN_JSON|@FILE", file=sys.stderr)
        sys.exit(2)
    text = sys.argv[1]
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    plan = json.loads(text)
    timeout = plan.get("timeout", 60)
    results = []
    sent = []  # per step: the messages sent and the answer got
    for i, step in enumerate(plan["steps"]):
        print(f"step {i} {step['op']}", file=sys.stderr, flush=True)
        client = openai.OpenAI(
            base_url=plan["base_url"],
            api_key=step.get("api_key", plan["api_key"]),
            timeout=timeout,
            max_retries=0,
        )
        messages = list(step.get("messages", []))
        if "after" in step:
            before, answer = sent[step["after"]]
            messages = before + [{"role": "assistant", "content": answer}] + messages
        try:
            if step["op"] == "models":
                result = {"ids": [m.id for m in client.models.list()]}
            elif step["op"] == "chat":
                kwargs = dict(step.get("extra", {}))
                if step.get("stream"):
                    kwargs["stream"] = True
                    if step.get("include_usage"):
                        kwargs["stream_options"] = {"include_usage": True}
                raw = client.chat.completions.with_raw_response.create(
                    model=step.get("model", "chitin"), messages=messages, **kwargs
                )
                result = streamed(raw) if step.get("stream") else whole(raw)
            else:
                print(f"unknown op {step['op']!r}", file=sys.stderr)
                sys.exit(2)
        except openai.OpenAIError as e:
            result = {"error": error(e)}
        sent.append((messages, result.get("content")))
        results.append(result)
    print(json.dumps({"sdk": SDK, "results": results}))


if __name__ == "__main__":
    main()
