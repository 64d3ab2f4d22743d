"""The ML-Hub WebSocket protocol over a real server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.sync.client import connect

from ..data.factories import TITANIC_LIKE
from .conftest import LiveServer


def ws_url(live: LiveServer) -> str:
    return live.url.replace("http://", "ws://") + "/ws"


def ask(ws: Any, message: dict[str, Any] | str) -> dict[str, Any]:
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(ws.recv(timeout=60))


def test_from_csv_with_inline_text_then_by_name(live_sqlite: LiveServer) -> None:
    with connect(ws_url(live_sqlite)) as ws:
        reply = ask(
            ws, {"type": "file", "func": "from_csv", "args": [TITANIC_LIKE, "titanic"], "id": 7}
        )
        assert reply["ok"] and reply["id"] == 7 and reply["type"] == "file"
        assert reply["dataset"] == "titanic" and reply["n_rows"] == 120
        assert {c["name"]: c["semantic_type"] for c in reply["columns"]}["Sex"] == "categorical"
        assert len(reply["preview"]) == 5
        again = ask(ws, {"type": "file", "func": "from_csv", "args": ["titanic"]})
        assert again["ok"] and again["version"] == 1


@pytest.mark.parametrize(
    ("message", "code", "words"),
    [
        ("not json", "invalid_json", "not valid JSON"),
        ("[1, 2]", "invalid_message", "JSON object"),
        ({"no": "type"}, "unknown_type", "has no 'type'"),
        ({"type": "make-coffee"}, "unknown_type", "unknown message type 'make-coffee'"),
        ({"type": "file", "func": "from_excel", "args": []}, "invalid_input", "from_excel"),
        ({"type": "file", "args": "x"}, "invalid_input", "'args' must be list or dict"),
        ({"type": "file", "args": ["/etc/passwd"]}, "not_found", "Server paths are never read"),
        ({"type": "file", "args": ["a,b\n"]}, "invalid_input", "no data rows"),
    ],
)
def test_bad_messages_get_an_error_naming_the_problem_and_the_socket_stays_open(
    live_sqlite: LiveServer, message: dict[str, Any] | str, code: str, words: str
) -> None:
    with connect(ws_url(live_sqlite)) as ws:
        reply = ask(ws, message)
        assert reply["type"] == "error" and not reply["ok"]
        assert reply["error"]["code"] == code
        assert words in reply["error"]["message"]
        # The connection is still usable.
        ok = ask(ws, {"type": "file", "args": ["a,b\n1,2\n"], "id": "after"})
        assert ok["ok"] and ok["id"] == "after"


def test_oversized_message_is_refused(live_sqlite: LiveServer) -> None:
    live_sqlite.hub.settings.max_ws_message_bytes = 1000
    with connect(ws_url(live_sqlite)) as ws:
        reply = ask(ws, {"type": "file", "args": ["a\n" + "1\n" * 2000]})
        assert reply["error"]["code"] == "payload_too_large"
