"""The typed polars frame the insights are computed on, and the seeded sample.

Arrow tables arrive as read (strings for dates, 0/1 for booleans, dictionaries...). Each
column is kept twice where the two differ: its *raw* values, which all counts are taken on
(so missing and distinct agree with what the user uploaded), and its *typed* values, as its
semantic type reads them (dates parsed, booleans mapped, numbers as floats).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from mlharbor.data.schema import BOOLEAN_TOKENS, ColumnSchema, DatasetSchema, SemanticType
from mlharbor.errors import InvalidInputError

NUMERIC_TYPES = frozenset({SemanticType.NUMERIC, SemanticType.INTEGER_CATEGORICAL})
CATEGORY_TYPES = frozenset(
    {SemanticType.CATEGORICAL, SemanticType.INTEGER_CATEGORICAL, SemanticType.BOOLEAN}
)


@dataclass
class Frame:
    """Raw and typed columns side by side, addressed by column position."""

    data: pl.DataFrame
    schema: DatasetSchema

    @property
    def n_rows(self) -> int:
        return self.data.height

    @staticmethod
    def raw(i: int) -> str:
        return f"r{i}"

    def typed(self, i: int) -> str:
        name = f"t{i}"
        return name if name in self.data.columns else f"r{i}"

    def sample(self, n: int, seed: int) -> Frame:
        """A seeded random sample of ``n`` rows (the frame itself when it is no larger)."""
        if self.n_rows <= n:
            return self
        return Frame(self.data.sample(n=n, seed=seed), self.schema)


def make_frame(table: pa.Table, schema: DatasetSchema) -> Frame:
    """Check that ``schema`` describes ``table`` and build the working frame."""
    if table.num_columns == 0:
        raise InvalidInputError("the dataset has no columns; there is nothing to describe")
    if table.num_rows == 0:
        raise InvalidInputError("the dataset has no rows; there is nothing to describe")
    repeated = [name for name, n in Counter(table.column_names).items() if n > 1]
    if repeated:
        raise InvalidInputError(
            f"the dataset has repeated column names: {', '.join(map(repr, repeated))}",
            columns=repeated,
        )
    if table.column_names != schema.names:
        raise InvalidInputError(
            "the schema does not describe this table: its columns are "
            f"{', '.join(schema.names)} but the table's are {', '.join(table.column_names)}"
        )
    raw = [_raw_series(f"r{i}", table.column(i)) for i in range(table.num_columns)]
    typed = []
    for i, (series, col) in enumerate(zip(raw, schema.columns, strict=True)):
        converted = _typed_series(series, col)
        if converted is not None:
            typed.append(converted.alias(f"t{i}"))
    return Frame(pl.DataFrame(raw + typed), schema)


def _raw_series(name: str, column: pa.ChunkedArray) -> pl.Series:
    typ = column.type
    if pa.types.is_dictionary(typ):
        column = column.cast(typ.value_type)
    elif pa.types.is_nested(column.type) or pa.types.is_null(column.type):
        # Lists, structs and all-null columns have no order or arithmetic: describe their text.
        column = pa.chunked_array(
            [pa.array([_as_text(v) for v in column.to_pylist()], pa.large_string())]
        )
    series = pl.Series(name, column) if column.num_chunks else pl.Series(name, [], pl.String)
    dtype = series.dtype
    if dtype.is_float() and series.is_nan().any():
        # NaN is missing for a user, as it is for pandas and the schema.
        series = series.fill_nan(None)
    elif dtype.is_decimal():
        series = series.cast(pl.Float64)
    elif dtype in (pl.Categorical, pl.Enum):
        series = series.cast(pl.String)
    elif dtype == pl.Binary:
        series = series.cast(pl.String, strict=False)
    return series


def _as_text(value: object) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _typed_series(series: pl.Series, col: ColumnSchema) -> pl.Series | None:
    """The column as its semantic type reads it, or ``None`` when that is the raw column."""
    dtype, kind = series.dtype, col.semantic_type
    if kind in NUMERIC_TYPES:
        if dtype.is_float():
            finite = _finite(series)
            return None if finite is series else finite
        if dtype.is_numeric():
            return None
        if dtype == pl.Boolean:
            return series.cast(pl.Int8)
        return _finite(series.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False))
    if kind == SemanticType.DATETIME:
        return _datetimes(series, col)
    if kind == SemanticType.BOOLEAN:
        if dtype == pl.Boolean:
            return None
        if dtype.is_numeric():
            return series == 1
        tokens = series.cast(pl.String).str.strip_chars().str.to_lowercase()
        return tokens.replace_strict(BOOLEAN_TOKENS, default=None, return_dtype=pl.Boolean)
    return None


def _finite(series: pl.Series) -> pl.Series:
    # Infinities would turn every moment into inf or NaN; they are counted apart.
    if not series.dtype.is_float() or not series.is_infinite().any():
        return series
    col = pl.col(series.name)
    finite = pl.when(col.is_infinite()).then(None).otherwise(col)
    return series.to_frame().select(finite).to_series()


def _datetimes(series: pl.Series, col: ColumnSchema) -> pl.Series | None:
    dtype = series.dtype
    if dtype.is_temporal():
        return None
    if dtype.is_numeric():
        return pl.from_epoch(series.cast(pl.Int64), time_unit="s")
    strings = series.cast(pl.String).str.strip_chars()
    if col.datetime_format:
        return strings.str.strptime(pl.Datetime("us"), col.datetime_format, strict=False)
    return strings.str.to_datetime(strict=False, time_unit="us")
