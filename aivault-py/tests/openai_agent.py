"""An agent process for test_openai.py: drives the real `openai` package through an aivault
transport, then dumps every string and bytes object it can reach (the environment, and all that
is reachable from the garbage collector's objects and the stack) to a file, so the test can
show the vault's key never entered this process's Python objects.

    python openai_agent.py VAULT_DIR BASE_URL DUMP_FILE
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
from typing import Any

import openai

import aivault

MAJOR = int(openai.__version__.split(".")[0])
if MAJOR >= 3:  # openai 3.x is built on httpx2
    import httpx2 as client

    import aivault.httpx2 as transports
else:
    import httpx as client  # type: ignore[no-redef]

    import aivault.httpx as transports  # type: ignore[no-redef]


def dump(path: str) -> None:
    """Walks everything reachable from the objects the garbage collector tracks and from the
    stack's frames (following references also reaches the containers the collector does not
    track, such as a dict holding only strings) and writes every str and bytes found."""
    found = [f"{k}={v}" for k, v in os.environ.items()]
    stack: list[Any] = gc.get_objects()
    frame = sys._getframe()
    while frame is not None:
        stack.append(frame.f_locals)
        frame = frame.f_back  # type: ignore[assignment]
    seen: dict[int, Any] = {id(found): found, id(stack): stack}
    seen[id(seen)] = seen
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj  # kept alive, so an id is never reused during the walk
        if isinstance(obj, str):
            found.append(obj)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            found.append(bytes(obj).decode("latin-1"))
        elif not isinstance(obj, (int, float, complex, type(None))):
            stack.extend(gc.get_referents(obj))
    with open(path, "w", encoding="utf-8", errors="replace") as out:
        out.write("\n".join(found))


def main() -> None:
    vault_dir, base_url, dump_path = sys.argv[1:4]
    vault = aivault.Vault(vault_dir)
    sync = openai.OpenAI(
        api_key="unused", base_url=base_url, max_retries=0,
        http_client=client.Client(transport=transports.Transport(vault)))
    completion = sync.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "ping"}])

    async def call() -> Any:
        async_client = openai.AsyncOpenAI(
            api_key="unused", base_url=base_url, max_retries=0,
            http_client=client.AsyncClient(transport=transports.AsyncTransport(vault)))
        return await async_client.chat.completions.create(
            model="test-model-async", messages=[{"role": "user", "content": "ping"}])

    async_completion = asyncio.run(call())
    stream = sync.chat.completions.create(
        model="test-model-stream", messages=[{"role": "user", "content": "ping"}], stream=True)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    try:
        sync.models.list()  # GET /v1/models: no capability admits it
        refused = "not refused"
    except openai.APIStatusError as err:
        refused = f"{type(err).__name__} {err.status_code}"
    dump(dump_path)
    print(json.dumps({
        "openai": openai.__version__,
        "client": client.__name__,
        "content": completion.choices[0].message.content,
        "model": completion.model,
        "async_model": async_completion.model,
        "streamed": streamed,
        "refused": refused,
        "repr": repr(completion) + repr(async_completion),
    }))


if __name__ == "__main__":
    main()
