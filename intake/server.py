"""The endpoint as a real HTTP server inside an asyncio program (tests, benchmark), stopped
when the block ends: the sender (mock-einvoice) must reach it over a socket."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette


@asynccontextmanager
async def running_server(app: Starlette, port: int, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Yields the base URL once the server listens."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():  # e.g. the port was taken: raise its error instead of waiting forever
            await task
            raise RuntimeError(f"intake server on {host}:{port} stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
