"""The floor: what the server stack itself costs on this machine.

A bare ASGI app that reads the request body and answers 200 with a small JSON
body, served by uvicorn with the relay's own settings (same loop, HTTP parser,
keep-alive and logging level). The webhook benchmark sends it the same load as
the relay, so the relay's figures can be read as a ratio to this one.

    python -m tests.bench.floor_app --port PORT
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from desktop.relay.config import RelaySettings
from desktop.relay.server import uvicorn_config

_BODY = b'{"status":"applied"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = RelaySettings(port=args.port)
    # Exactly the relay's uvicorn settings (same loop, parser, keep-alive, log level).
    config = uvicorn_config(app, settings)  # type: ignore[arg-type]
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
