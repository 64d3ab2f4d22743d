"""The typed polars frame the insights are computed on, and the seeded sample.

Arrow tables arrive as read (strings for dates, 0/1 for booleans, dictionaries...). Each
column is kept twice where the two differ: its *raw* values, which all counts are taken on
(so missing and distinct agree with what the user uploaded), and its *typed* values, as its
semantic type reads them (dates parsed, booleans mapped, numbers as floats).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
import polars as pl
import pyarrow as pa

from mlharbor.data.insights._encode import category_codes, float_values
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
    # Codes are built once and shared by the associations and the target analysis.
    _codes: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return self.data.height

    @staticmethod
    def raw(i: int) -> str:
        return f"r{i}"

    @cached_property
    def dtypes(self) -> dict[str, pl.DataType]:
        """Each column's polars type (polars rebuilds its schema object on every access)."""
        return dict(self.data.schema)

    def typed(self, i: int) -> str:
        name = f"t{i}"
        return name if name in self.dtypes else f"r{i}"

    def category_codes(self, i: int) -> np.ndarray:
        """Category codes of column ``i``'s raw values (see ``_encode.category_codes``)."""
        key = ("category", i)
        if key not in self._codes:
            self._codes[key] = category_codes(self.data.get_column(self.raw(i)))
        return self._codes[key]

    def float_values(self, i: int) -> np.ndarray:
        """Column ``i``'s typed values as float64, NaN for missing."""
        key = ("float", i)
        if key not in self._codes:
            self._codes[key] = float_values(self.data.get_column(self.typed(i)))
        return self._codes[key]

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
    columns = [_arrow_column(table.column(i)) for i in range(table.num_columns)]
    names = [Frame.raw(i) for i in range(table.num_columns)]
    # No rechunk: polars works on the Arrow chunks as they are, without copying them.
    data = cast(pl.DataFrame, pl.from_arrow(pa.table(columns, names=names), rechunk=False))
    dtypes = dict(data.schema)
    floats = [name for name in names if dtypes[name].is_float()]
    flags = data.select(
        *[pl.col(name).is_nan().any().alias(f"nan {name}") for name in floats],
        *[pl.col(name).is_infinite().any().alias(f"inf {name}") for name in floats],
    ).row(0, named=True) if floats else {}  # fmt: skip
    fixes = [_raw_fix(name, dtypes[name], flags.get(f"nan {name}", False)) for name in names]
    data = data.with_columns([fix for fix in fixes if fix is not None])
    dtypes = dict(data.schema)
    words = _boolean_words(data, schema, names, dtypes)
    typed = [
        expr.alias(f"t{i}")
        for i, col in enumerate(schema.columns)
        if (expr := _typed_expr(names[i], dtypes[names[i]], col, flags, words)) is not None
    ]
    return Frame(data.with_columns(typed) if typed else data, schema)


def _arrow_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    typ = column.type
    if pa.types.is_dictionary(typ):
        return column.cast(typ.value_type)
    if pa.types.is_nested(typ) or pa.types.is_null(typ):
        # Lists, structs and all-null columns have no order or arithmetic: describe their text.
        return pa.chunked_array(
            [pa.array([_as_text(v) for v in column.to_pylist()], pa.large_string())]
        )
    return column


def _raw_fix(name: str, dtype: pl.DataType, has_nan: bool) -> pl.Expr | None:
    col = pl.col(name)
    if has_nan:
        # NaN is missing for a user, as it is for pandas and the schema.
        return col.fill_nan(None)
    if dtype.is_decimal():
        return col.cast(pl.Float64)
    if dtype in (pl.Categorical, pl.Enum) or dtype == pl.Binary:
        return col.cast(pl.String, strict=False)
    return None


def _as_text(value: object) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


#: Boolean text with at most this many distinct values is mapped value by value.
MAX_BOOLEAN_WORDS = 32


def _boolean_words(
    data: pl.DataFrame, schema: DatasetSchema, names: list[str], dtypes: dict[str, pl.DataType]
) -> dict[str, pl.Series]:
    """The distinct values of each boolean text column that has few of them (one pass for
    all): mapping those few values costs less than stripping, lower-casing and looking up
    every row's text."""
    text = [
        name
        for name, col in zip(names, schema.columns, strict=True)
        if col.semantic_type == SemanticType.BOOLEAN and dtypes[name] == pl.String
    ]
    if not text:
        return {}
    found = data.select(
        pl.col(name).unique().head(MAX_BOOLEAN_WORDS + 1).implode() for name in text
    ).row(0, named=True)
    return {
        name: pl.Series(values, dtype=pl.String)
        for name, values in found.items()
        if len(values) <= MAX_BOOLEAN_WORDS
    }


def _boolean_tokens(text: pl.Expr | pl.Series) -> Any:
    """Text read as a boolean: one of ``BOOLEAN_TOKENS`` once stripped and lower-cased."""
    tokens = text.cast(pl.String).str.strip_chars().str.to_lowercase()
    return tokens.replace_strict(BOOLEAN_TOKENS, default=None, return_dtype=pl.Boolean)


def _typed_expr(
    name: str,
    dtype: pl.DataType,
    col: ColumnSchema,
    flags: dict[str, bool],
    words: dict[str, pl.Series],
) -> pl.Expr | None:
    """The column as its semantic type reads it, or ``None`` when that is the raw column."""
    kind, raw = col.semantic_type, pl.col(name)
    if kind in NUMERIC_TYPES:
        if dtype.is_float():
            # Infinities would turn every moment into inf or NaN; they are counted apart.
            if not flags.get(f"inf {name}"):
                return None
            return pl.when(raw.is_infinite()).then(None).otherwise(raw)
        if dtype.is_numeric():
            return None
        if dtype == pl.Boolean:
            return raw.cast(pl.Int8)
        number = raw.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        return pl.when(number.is_infinite()).then(None).otherwise(number)
    if kind == SemanticType.DATETIME:
        if dtype.is_temporal():
            return None
        if dtype.is_numeric():
            return pl.from_epoch(raw.cast(pl.Int64), time_unit="s")
        strings = raw.cast(pl.String).str.strip_chars()
        if col.datetime_format:
            return strings.str.strptime(pl.Datetime("us"), col.datetime_format, strict=False)
        return strings.str.to_datetime(strict=False, time_unit="us")
    if kind == SemanticType.BOOLEAN:
        if dtype == pl.Boolean:
            return None
        if dtype.is_numeric():
            return raw == 1
        if name not in words:
            return cast(pl.Expr, _boolean_tokens(raw))
        # Each distinct value is read once, by the same expression, and the rows compared
        # with the values that read as true or false; anything else (and null) is null.
        values = words[name]
        mapped: Any = pl  # pl.when(...), then each .then(...).when(...) of the chain
        for value, flag in zip(values, _boolean_tokens(values), strict=True):
            if value is not None and flag is not None:
                mapped = mapped.when(raw == value).then(pl.lit(flag, dtype=pl.Boolean))
        if mapped is pl:  # no value reads as a boolean
            return pl.lit(None, dtype=pl.Boolean)
        return cast(pl.Expr, mapped.otherwise(None))
    return None
