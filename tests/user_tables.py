"""Generated tables holding every semantic type the schema knows and every naming hazard.

Each table is written as Parquet, so dates come back as ``date32`` (``datetime.date`` in
pandas) and timestamps keep their time zone, exactly as a user's Parquet file does.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: Column names a converter or a URL might mangle: dots, spaces, unicode, a leading digit,
#: and two (``a.b``, ``a_b``) that are the same once made identifiers.
HAZARDS = ("sepal.length", "2nd score", "größe", "a.b", "a_b")
#: The feature columns, by what they hold.
KINDS = {
    "sepal.length": "numeric with missing values",
    "2nd score": "numeric",
    "a.b": "numeric",
    "a_b": "numeric",
    "plan code": "integer-coded categorical",
    "größe": "string categorical with rare levels",
    "zip": "high-cardinality categorical",
    "opt in": "boolean as yes/no",
    "is.active": "boolean as true/false",
    "zero_one": "boolean as 0/1",
    "flag yn": "boolean as Y/N",
    "day": "date-only (Parquet date32)",
    "seen at": "timestamp",
    "seen tz": "timezone-aware timestamp",
    "note": "free text",
    "customer_id": "identifier",
    "const": "constant",
}
TEMPORAL = ("day", "seen at", "seen tz", "note")  # what skl2onnx cannot convert
TARGETS = {"binary": "churn", "multiclass": "colour", "regression": "spend", "text": "mood"}
UNSEEN = {"größe": "marseille", "zip": "z999", "plan code": 9}
WORDS = ("good", "bad", "slow", "fast", "price", "late", "kind", "rude")


def features(n: int = 200, seed: int = 0, *, plain: bool = False) -> pd.DataFrame:
    """Every kind of column in :data:`KINDS`; with ``plain`` only what converts to ONNX (no
    dates, text, high-cardinality categories or missing numbers), naming hazards kept."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(5.0, 1.0, n)
    numeric[rng.random(n) < 0.1] = np.nan
    start = pd.Timestamp("2023-01-01")
    frame = pd.DataFrame(
        {
            "sepal.length": numeric,
            "2nd score": rng.normal(0, 1, n).round(3),
            "a.b": rng.normal(10, 2, n).round(3),
            "a_b": rng.normal(-3, 1, n).round(3),
            "plan code": rng.choice([1, 2, 3, 4], n),
            "größe": rng.choice(
                ["klein", "groß", "mittel", "winzig", "riesig"], n, p=[0.4, 0.3, 0.26, 0.02, 0.02]
            ),
            "zip": [f"z{v:03d}" for v in rng.integers(0, 40, n)],
            "opt in": rng.choice(["yes", "no"], n),
            "is.active": rng.choice(["true", "false"], n),
            "zero_one": rng.choice([0, 1], n),
            "flag yn": rng.choice(["Y", "N"], n),
            "day": (start + pd.to_timedelta(rng.integers(0, 700, n), unit="D")).date,
            "seen at": start + pd.to_timedelta(rng.integers(0, 3 * 10**7, n), unit="s"),
            # Spans summer time: one column, two UTC offsets.
            "seen tz": (
                start + pd.to_timedelta(rng.integers(0, 3 * 10**7, n), unit="s")
            ).tz_localize("Europe/Paris"),
            "note": [" ".join(rng.choice(WORDS, 5)) for _ in range(n)],
            "customer_id": np.arange(1000, 1000 + n),
            "const": ["same"] * n,
        }
    )
    if plain:
        frame = frame.drop(columns=[*TEMPORAL, "zip"])
        frame["sepal.length"] = frame["sepal.length"].fillna(5.0)
    return frame


def with_target(frame: pd.DataFrame, task: str, seed: int = 0) -> pd.DataFrame:
    """``frame`` plus the target of ``task``, learnable from a few of its columns."""
    rng = np.random.default_rng(seed + 1)
    signal = frame["sepal.length"].fillna(5.0) + (frame["größe"] == "klein") + frame["2nd score"]
    out = frame.copy()
    if task == "binary":
        out["churn"] = np.where(signal > signal.median(), "left", "stayed")
    elif task == "multiclass":
        out["colour"] = pd.cut(signal.rank(method="first"), 3, labels=["red", "green", "blue"])
        out["colour"] = out["colour"].astype(str)
    elif task == "regression":
        out["spend"] = (signal * 10 + rng.normal(0, 1, len(frame))).round(2)
    else:
        good = out["note"].str.contains("good|fast|kind")
        out["mood"] = np.where(good, "happy", "unhappy")
    return out


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as a Parquet file as another tool would write it (no pandas metadata)."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    if "day" in frame:
        index = table.schema.get_field_index("day")
        table = table.set_column(index, "day", table.column("day").cast(pa.date32()))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def json_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows as a REST client sends them: dates as ISO text, missing as null."""
    out = []
    for record in frame.to_dict(orient="records"):
        row = {}
        for key, value in record.items():
            if isinstance(value, pd.Timestamp | np.datetime64) or hasattr(value, "isoformat"):
                value = pd.Timestamp(value).isoformat()
            elif isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and np.isnan(value):
                value = None
            row[key] = value
        out.append(row)
    return out


def hazard_rows(frame: pd.DataFrame) -> list[dict]:
    """Two rows with unseen categories and dates as users type them."""
    rows = json_rows(frame.iloc[:2])
    for row in rows:
        row.update({k: v for k, v in UNSEEN.items() if k in row})
    if "day" in frame:
        rows[0].update({"day": "2024-02-03", "seen at": "2024-02-03", "seen tz": "2024-02-03"})
        rows[1].update(
            {"seen at": "2024-02-03T10:00:00+01:00", "seen tz": "2024-02-03T10:00:00+01:00"}
        )
    return rows
