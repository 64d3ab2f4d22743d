"""Bounds on what one request may ask of the server: integer ranges and JSON nesting depth.

Neutral ground (no FastAPI, no database) so that the API, the WebSocket and the data layer
check the same way.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mlharbor.errors import InvalidInputError

#: The largest id or version number a database ``INTEGER`` column holds (PostgreSQL's int4).
MAX_ID = 2**31 - 1
#: An AutoML time budget below this cannot cross-validate even one model: refused up front.
MIN_BUDGET = 2.0
MAX_BUDGET = 24 * 3600.0
#: Bodies up to this size are parsed on the event loop (a thread hop costs more than the
#: parse); bigger ones in a worker thread, so that the server keeps answering meanwhile.
INLINE_PARSE_BYTES = 64 << 10

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
#: Up to this size a body's depth is found by removing bracket pairs, level by level.
_PAIRED_BYTES = 256 << 10
_INNERMOST = re.compile(rb"\[\]|\{\}")
# Short C calls: the scan runs in a worker thread for big bodies, and a call that holds the
# GIL for long would stall the event loop all the same.
_CHUNK = 1 << 20


def json_depth(data: bytes | str, stop: int | None = None) -> int:
    """How deep the JSON text ``data`` nests arrays and objects (``[[1]]`` is 2).

    A scan of the text, not a parse, and without recursion, so a body nested a million deep
    costs what its length costs, in C: escapes are dropped, everything but brackets and
    quotes too, and numpy sums the running level outside strings. Text that is not JSON gets
    a number too; the parser refuses it afterwards. With ``stop``, an answer of ``stop`` or
    less may be an upper bound (a cheap count settles most bodies).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    openings = raw.count(b"[") + raw.count(b"{")
    if stop is not None and openings <= stop:
        return openings
    if stop is not None and len(raw) <= _PAIRED_BYTES:
        paired = _depth_by_pairs(raw, stop)
        if paired is not None:
            return paired
    import numpy as np  # here: only bodies with many brackets pay for it

    step = np.zeros(256, np.int8)
    step[list(b"[{")], step[list(b"]}")] = 1, -1
    deepest = level = quotes = start = 0
    while start < len(raw):
        end = start + _CHUNK
        # Inside a string a backslash starts a two-character escape: end a chunk past any
        # run of backslashes and the character it escapes.
        while end < len(raw) and raw[end - 1] == 0x5C:
            end += 1
        chunk = raw[start:end]
        if b"\\" in chunk:
            # Pairs of backslashes first, so that what is left of a run says whether the
            # quote after it is escaped.
            chunk = chunk.replace(b"\\\\", b"").replace(b'\\"', b"")
        marks = np.frombuffer(chunk.translate(None, _NOT_STRUCTURE), np.uint8)
        start = end
        if not len(marks):
            continue
        quote = marks == 0x22
        inside = (np.cumsum(quote, dtype=np.int64) + quotes) % 2 == 1
        quotes += int(quote.sum())
        steps = step[marks]
        steps[inside] = 0
        levels = np.cumsum(steps, dtype=np.int64) + level
        deepest, level = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def _depth_by_pairs(raw: bytes, stop: int) -> int | None:
    """The depth of a small body, or more than ``stop``: each pass removes the innermost
    bracket pairs, one level, in C (a few passes for a request's rows, where the scan below
    costs a dozen numpy calls). None for brackets that do not pair (not JSON: the scan
    answers and the parser refuses it)."""
    if b"\\" in raw:  # as in the scan: escaped backslashes, then escaped quotes
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Every other piece between quotes is a string's text: its brackets are no structure.
    marks = b"".join(raw.translate(None, _NOT_STRUCTURE).split(b'"')[::2])
    depth = 0
    while marks:
        inner = _INNERMOST.sub(b"", marks)
        if len(inner) == len(marks):
            return None
        depth, marks = depth + 1, inner
        if depth > stop:
            break
    return depth


def json_depth_over(data: bytes | str, limit: int) -> bool:
    """Whether the JSON text ``data`` nests deeper than ``limit`` levels."""
    return json_depth(data, stop=limit) > limit


def depth_error(limit: int) -> InvalidInputError:
    """The error for JSON nested deeper than ``limit`` (one wording for every door)."""
    return InvalidInputError(
        f"the JSON body is nested deeper than {limit} levels (setting MLHARBOR_MAX_JSON_DEPTH)",
        max_depth=limit,
    )


def check_json_depth(data: bytes | str, limit: int) -> None:
    """Raise ``InvalidInputError`` (422) when ``data`` is nested deeper than ``limit``."""
    if json_depth_over(data, limit):
        raise depth_error(limit)


def check_budget(time_budget: Any) -> float:
    """An AutoML time budget in seconds, or ``InvalidInputError`` saying its limits."""
    try:
        budget = float(time_budget)
    except (TypeError, ValueError):
        raise InvalidInputError(f"time_budget must be a number of seconds, got {time_budget!r}")
    if not math.isfinite(budget) or budget < MIN_BUDGET:
        raise InvalidInputError(
            f"a time budget of {time_budget} s is too small to fit even one model: "
            f"give at least {MIN_BUDGET:g} seconds",
            time_budget=time_budget,
        )
    if budget > MAX_BUDGET:
        raise InvalidInputError(f"time_budget must be at most {MAX_BUDGET:g} seconds")
    return budget
