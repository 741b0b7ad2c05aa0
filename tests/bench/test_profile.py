"""The webhook profile's summary: each py-spy sample goes to the component of
its innermost recognised frame."""

from __future__ import annotations

from tests.bench.profile import summarise

SITE = "/work/.venv/lib/python3.11/site-packages"
RAW = "\n".join(
    [
        # innermost first match wins: the store, though the webhook code is above it
        "run (/usr/lib/python3.11/asyncio/events.py:80);"
        "handle (/w/desktop/relay/zoom/webhooks.py:9);"
        "writing (/w/desktop/relay/storage/sqlite.py:88) 6",
        f"run (/usr/lib/python3.11/asyncio/events.py:80);data_received ({SITE}/uvicorn/x.py:1) 3",
        "main (/w/bench.py:1);mystery (/w/elsewhere.py:2) 1",
        "not a sample line",
    ]
)


def test_samples_are_summed_by_component_largest_first() -> None:
    summary = summarise(RAW)
    assert [(c["component"], c["samples"], c["share_percent"]) for c in summary] == [
        ("store: SQLite or PostgreSQL", 6, 60.0),
        ("uvicorn, HTTP parsing, transport", 3, 30.0),
        ("other", 1, 10.0),
    ]
