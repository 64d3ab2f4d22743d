"""Column types: what each column of a dataset is stored as and what it means.

The *storage type* is the Arrow type the data was read as. The *semantic type* is what the
column means for modelling (a number, a category, a date, free text, an identifier...). It is
inferred once per dataset version, with the evidence for the choice, and a user may override
it or a column's role afterwards.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa

from mlharbor.errors import InvalidInputError, NotFoundError
from mlharbor.lazy import lazy_module

# Inference and checks use it; reading a stored schema (every report) does not.
pc = lazy_module("pyarrow.compute")


class SemanticType(StrEnum):
    NUMERIC = "numeric"
    INTEGER_CATEGORICAL = "integer_categorical"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    IDENTIFIER = "identifier"
    CONSTANT = "constant"


class Role(StrEnum):
    FEATURE = "feature"
    IGNORE = "ignore"


BOOLEAN_TOKENS = {
    "true": True,
    "false": False,
    "t": True,
    "f": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
}
DATETIME_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
)
_ID_NAME = re.compile(r"(^|_|\b)(id|uuid|guid|key|index|idx)$|^(id|uuid)(_|$)", re.IGNORECASE)
SAMPLE = 20_000
SAMPLE_ROWS = 100_000
MAX_CATEGORICAL_CODES = 10


@dataclass
class ColumnSchema:
    """One column: its name, types, role and the evidence behind the semantic type."""

    name: str
    storage_type: str
    semantic_type: SemanticType
    role: Role = Role.FEATURE
    n_missing: int = 0
    n_distinct: int = 0
    unique_ratio: float = 0.0
    datetime_format: str | None = None
    evidence: str = ""
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSchema:
        data = dict(data)
        data["semantic_type"] = SemanticType(data["semantic_type"])
        data["role"] = Role(data.get("role", Role.FEATURE))
        return cls(**data)


@dataclass
class DatasetSchema:
    """The columns of a dataset version, in order, plus notes made while reading it."""

    columns: list[ColumnSchema]
    n_rows: int
    notes: list[str] = field(default_factory=list)
    #: Rows the distinct counts were taken from, when fewer than all (None: exact).
    sampled_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "n_rows": self.n_rows,
            "notes": list(self.notes),
            "sampled_rows": self.sampled_rows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSchema:
        return cls(
            columns=[ColumnSchema.from_dict(c) for c in data["columns"]],
            n_rows=data["n_rows"],
            notes=list(data.get("notes", [])),
            sampled_rows=data.get("sampled_rows"),
        )

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        """The column called ``name``; ``NotFoundError`` listing the columns otherwise."""
        for col in self.columns:
            if col.name == name:
                return col
        raise NotFoundError(
            f"column {name!r} is not in the dataset; its columns are: {', '.join(self.names)}",
            column=name,
        )

    def override(self, name: str, *, semantic_type: str | None, role: str | None) -> None:
        """Set a column's semantic type and/or role, as a user asked."""
        col = self.column(name)
        if semantic_type is not None:
            try:
                col.semantic_type = SemanticType(semantic_type)
            except ValueError:
                valid = ", ".join(t.value for t in SemanticType)
                raise InvalidInputError(
                    f"unknown semantic type {semantic_type!r} for column {name!r}; "
                    f"valid types: {valid}"
                )
        if role is not None:
            try:
                col.role = Role(role)
            except ValueError:
                valid = ", ".join(r.value for r in Role)
                raise InvalidInputError(
                    f"unknown role {role!r} for column {name!r}; valid roles: {valid}"
                )
        col.overridden = True


def infer_schema(
    table: pa.Table, notes: list[str] | None = None, *, max_exact_rows: int = 200_000
) -> DatasetSchema:
    """Infer the storage and semantic type of every column of ``table``.

    Parameters
    ----------
    table : pyarrow.Table
        The dataset as read.
    notes : list of str, optional
        Remarks from reading the file (renamed columns, detected encoding...) to keep.
    max_exact_rows : int
        Larger tables are typed from ten evenly spaced blocks of ``SAMPLE_ROWS`` rows in all,
        and their distinct counts are those of the sample (``sampled_rows`` says so).

    Returns
    -------
    DatasetSchema
    """
    n_rows = table.num_rows
    # Types are decided on an evenly spaced sample of a large table; missing counts stay
    # exact. Exact distinct counts of every column cost more than reading the file.
    sample = table
    if n_rows > max_exact_rows:
        # Ten evenly spaced blocks: zero-copy slices, where a row-by-row gather costs a copy.
        block = SAMPLE_ROWS // 10
        starts = [i * (n_rows - block) // 9 for i in range(10)]
        sample = pa.concat_tables([table.slice(start, block) for start in starts])
    missing = [_count_missing(column) for column in table.columns]
    return _infer(table.schema, n_rows, missing, sample, notes, sample is not table)


class SchemaSampler:
    """What :func:`infer_schema` needs, gathered from record batches as they stream past.

    Missing counts are exact. Up to ``max_exact_rows`` rows every row is kept, so a small
    dataset is typed exactly as :func:`infer_schema` types the whole table; beyond that the
    types come from at most ``max_blocks`` blocks of rows copied from evenly spaced batches
    (every other block is dropped, and the stride doubled, whenever there are too many).
    """

    def __init__(
        self,
        schema: pa.Schema,
        *,
        max_exact_rows: int = 200_000,
        block_rows: int = SAMPLE_ROWS // 10,
        max_blocks: int = 20,
    ) -> None:
        self.schema = schema
        self.max_exact_rows = max_exact_rows
        self.block_rows = block_rows
        self.max_blocks = max_blocks
        self.n_rows = 0
        self.missing = [0] * len(schema)
        self._all: list[pa.RecordBatch] | None = []
        self._blocks: list[pa.RecordBatch] = []
        self._stride = 1
        self._seen = 0

    def add(self, batch: pa.RecordBatch) -> None:
        """Count the missing values of ``batch`` and keep what the sample needs of it."""
        self.n_rows += batch.num_rows
        for i, column in enumerate(batch.columns):
            self.missing[i] += _count_missing(column)
        if self._all is not None:
            self._all.append(batch)
            if self.n_rows > self.max_exact_rows:
                self._all = None  # too big to type exactly: the blocks below will do
        if self._seen % self._stride == 0:
            # A copy, so the block does not hold the whole batch's buffers alive.
            self._blocks.append(batch.take(_positions(0, min(self.block_rows, len(batch)))))
            if len(self._blocks) > self.max_blocks:
                self._blocks = self._blocks[::2]
                self._stride *= 2
        self._seen += 1

    def infer(self, notes: list[str] | None = None) -> DatasetSchema:
        """The schema of everything added so far."""
        if self._all is not None:
            sample = pa.Table.from_batches(self._all, self.schema)
            return _infer(self.schema, self.n_rows, self.missing, sample, notes, False)
        step = max(1, len(self._blocks) / 10)
        picked = [self._blocks[int(i * step)] for i in range(min(10, len(self._blocks)))]
        sample = pa.Table.from_batches(picked, self.schema)
        return _infer(self.schema, self.n_rows, self.missing, sample, notes, True)


def _infer(
    schema: pa.Schema,
    n_rows: int,
    missing: list[int],
    sample: pa.Table,
    notes: list[str] | None,
    sampled: bool,
) -> DatasetSchema:
    columns = [
        _infer_column(field.name, field.type, n_rows, missing[i], sample.column(i))
        for i, field in enumerate(schema)
    ]
    return DatasetSchema(
        columns=columns,
        n_rows=n_rows,
        notes=list(notes or []),
        sampled_rows=sample.num_rows if sampled else None,
    )


def _count_missing(column: pa.ChunkedArray | pa.Array) -> int:
    missing: int = column.null_count
    if pa.types.is_floating(column.type):
        missing += int(pc.sum(pc.is_nan(column)).as_py() or 0)
    return missing


def _infer_column(
    name: str, storage: pa.DataType, n_rows: int, n_missing: int, column: pa.ChunkedArray
) -> ColumnSchema:
    if pa.types.is_nested(storage):
        # Lists, structs and maps have no distinct-count kernel and no encoder: keep, don't use.
        return ColumnSchema(
            name=name,
            storage_type=str(storage),
            semantic_type=SemanticType.CATEGORICAL,
            role=Role.IGNORE,
            n_missing=n_missing,
            evidence="nested values (lists or records) are kept but not used as features",
        )
    if pa.types.is_dictionary(storage):
        column = column.cast(storage.value_type)
    n_present = 0 if n_missing == n_rows else len(column) - _count_missing(column)
    n_distinct = int(pc.count_distinct(column, mode="only_valid").as_py()) if n_present else 0
    ratio = n_distinct / n_present if n_present else 0.0
    col = ColumnSchema(
        name=name,
        storage_type=str(storage),
        semantic_type=SemanticType.CATEGORICAL,
        n_missing=n_missing,
        n_distinct=n_distinct,
        unique_ratio=round(ratio, 6),
    )
    kind, evidence = _classify(name, column, n_present, n_distinct, ratio, col)
    col.semantic_type, col.evidence = kind, evidence
    return col


def _classify(
    name: str,
    column: pa.ChunkedArray,
    n_present: int,
    n_distinct: int,
    ratio: float,
    col: ColumnSchema,
) -> tuple[SemanticType, str]:
    typ = column.type
    if n_present == 0:
        return SemanticType.CONSTANT, "every value is missing"
    if n_distinct == 1:
        return SemanticType.CONSTANT, "a single distinct value"
    if pa.types.is_boolean(typ):
        return SemanticType.BOOLEAN, "stored as booleans"
    if pa.types.is_temporal(typ):
        return SemanticType.DATETIME, f"stored as {typ}"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return _classify_number(name, column, n_present, n_distinct, ratio)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return _classify_string(name, column, n_present, n_distinct, ratio, col)
    return SemanticType.CATEGORICAL, f"stored as {typ}, treated as categories"


def _classify_number(
    name: str, column: pa.ChunkedArray, n_present: int, n_distinct: int, ratio: float
) -> tuple[SemanticType, str]:
    integral = pa.types.is_integer(column.type)
    if n_distinct == 2:
        lo, hi = pc.min_max(column).values()
        if {lo.as_py(), hi.as_py()} == {0, 1}:
            return SemanticType.BOOLEAN, "only the values 0 and 1"
    if (
        integral
        and ratio == 1.0
        and n_present >= 20
        and (_ID_NAME.search(name) or _is_sequence(column))
    ):
        why = "name says identifier" if _ID_NAME.search(name) else "consecutive integers"
        return SemanticType.IDENTIFIER, f"every value unique ({why})"
    if integral and n_distinct <= MAX_CATEGORICAL_CODES and n_present >= 50 and ratio < 0.05:
        return (
            SemanticType.INTEGER_CATEGORICAL,
            f"integers with only {n_distinct} distinct values",
        )
    return SemanticType.NUMERIC, f"{'integers' if integral else 'numbers'}, {n_distinct} distinct"


def _positions(start: int, stop: int, step: int = 1) -> pa.Int64Array:
    """``range(start, stop, step)`` as an Arrow array of row positions, for ``take``.

    Built from numpy's buffer: from a Python range it costs more than the take, and
    ``pa.array`` checks whether its input is a pandas object, which imports pandas (half a
    second of a command that never uses it).
    """
    values = np.arange(start, stop, step, dtype=np.int64)
    array: pa.Int64Array = pa.Array.from_buffers(
        pa.int64(), len(values), [None, pa.py_buffer(values)]
    )
    return array


def _is_sequence(column: pa.ChunkedArray) -> bool:
    lo, hi = pc.min_max(column).values()
    if lo.as_py() is None:
        return False
    return bool(hi.as_py() - lo.as_py() + 1 == len(column) - column.null_count)


def _as_strings(column: pa.ChunkedArray) -> pa.Array:
    if not column.num_chunks:
        return pa.array([], column.type)
    return column.drop_null().combine_chunks()


def _sample_strings(values: pa.Array) -> pa.Array:
    if len(values) <= SAMPLE:
        return values
    step = len(values) // SAMPLE
    return values.take(_positions(0, step * SAMPLE, step))


def _best_datetime_format(sample: pa.Array) -> str | None:
    if len(sample) == 0:
        return None
    probe = sample.slice(0, 200)
    # Dates have digits and a separator; most text fails this at once, saving 14 parses.
    looks = pc.match_substring_regex(probe, r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
    if (pc.sum(looks).as_py() or 0) < 0.9 * len(probe):
        return None
    best, best_share = None, 0.0
    for fmt in DATETIME_FORMATS:
        tried = pc.strptime(probe, format=fmt, unit="s", error_is_null=True)
        if tried.null_count > 0.1 * len(probe):
            continue
        parsed = pc.strptime(sample, format=fmt, unit="s", error_is_null=True)
        share = 1 - parsed.null_count / len(sample)
        if share > best_share:
            best, best_share = fmt, share
        if share == 1.0:
            break
    return best if best_share >= 0.95 else None


def _classify_string(
    name: str,
    column: pa.ChunkedArray,
    n_present: int,
    n_distinct: int,
    ratio: float,
    col: ColumnSchema,
) -> tuple[SemanticType, str]:
    sample = _sample_strings(_as_strings(column))
    if n_distinct <= 2:
        lowered = set(pc.unique(pc.utf8_lower(pc.utf8_trim_whitespace(sample))).to_pylist())
        if lowered <= BOOLEAN_TOKENS.keys() and len({BOOLEAN_TOKENS[v] for v in lowered}) == 2:
            return SemanticType.BOOLEAN, f"only the values {sorted(lowered)}"
    fmt = _best_datetime_format(sample)
    if fmt is not None:
        col.datetime_format = fmt
        return SemanticType.DATETIME, f"≥95% of values parse as dates with format {fmt}"
    words = pc.count_substring_regex(pc.utf8_trim_whitespace(sample), pattern=r"\s+")
    mean_words = (pc.mean(words).as_py() or 0.0) + 1.0
    mean_len = pc.mean(pc.utf8_length(sample)).as_py() or 0.0
    if mean_words >= 3.0 or (mean_len >= 30 and ratio > 0.5):
        return SemanticType.TEXT, f"free text: {mean_words:.1f} words per value on average"
    if ratio >= 0.95 and n_present >= 20 and mean_words < 1.5:
        return SemanticType.IDENTIFIER, f"{ratio:.0%} of values unique, single tokens"
    return SemanticType.CATEGORICAL, f"{n_distinct} distinct values ({ratio:.1%} unique)"


#: Text that reads as a finite number (or NaN, a missing value) when scikit-learn casts it;
#: infinity passes the cast but no estimator takes it.
_NUMBER = r"^\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan)\s*$"
_SHOWN = 5


def check_override(column: pa.ChunkedArray, schema: ColumnSchema, semantic_type: str) -> None:
    """Refuse to make ``column`` numeric, boolean or a date when its values are not.

    Raises
    ------
    InvalidInputError
        Naming the column, how many values do not fit and the first few of them.
    """
    kind = SemanticType(semantic_type)
    typ = column.type
    if pa.types.is_dictionary(typ):
        column, typ = column.cast(typ.value_type), typ.value_type
    textual = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    values = column.drop_null()
    if kind in (SemanticType.NUMERIC, SemanticType.INTEGER_CATEGORICAL):
        if _is_number(typ) or pa.types.is_boolean(typ):
            return
        bad = _unmatched(values, _NUMBER, ignore_case=True) if textual else values
        _refuse(schema.name, kind, "numbers", bad)
    elif kind == SemanticType.BOOLEAN:
        if pa.types.is_boolean(typ):
            return
        if _is_number(typ):
            bad = values.filter(pc.invert(pc.is_in(values, pa.array([0, 1], typ))))
        elif textual:
            tokens = pa.array([*BOOLEAN_TOKENS, "1", "0", "1.0", "0.0"])
            lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
            bad = values.filter(pc.invert(pc.is_in(lowered, tokens)))
        else:
            bad = values
        _refuse(schema.name, kind, "true/false values (true, yes, 1...)", bad)
    elif kind == SemanticType.DATETIME:
        if pa.types.is_temporal(typ):
            return
        if not textual:
            _refuse(schema.name, kind, "dates", values)
            return
        strings = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        fmt = schema.datetime_format or _best_datetime_format(_sample_strings(strings))
        fmt = fmt or _most_dates_format(strings)
        parsed = pc.strptime(strings, format=fmt, unit="s", error_is_null=True)
        _refuse(schema.name, kind, f"dates ({fmt})", strings.filter(pc.is_null(parsed)))
        schema.datetime_format = fmt


def _is_number(typ: pa.DataType) -> bool:
    return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ))


def _unmatched(values: pa.ChunkedArray, pattern: str, *, ignore_case: bool) -> pa.ChunkedArray:
    matched = pc.match_substring_regex(values, pattern, ignore_case=ignore_case)
    return values.filter(pc.invert(matched))


def _most_dates_format(strings: pa.Array) -> str:
    probe = _sample_strings(strings)
    counts = {
        fmt: len(probe) - pc.strptime(probe, format=fmt, unit="s", error_is_null=True).null_count
        for fmt in DATETIME_FORMATS
    }
    return max(counts, key=lambda fmt: counts[fmt])


def _refuse(name: str, kind: SemanticType, what: str, bad: pa.ChunkedArray | pa.Array) -> None:
    if len(bad) == 0:
        return
    shown = ", ".join(repr(v) for v in bad.slice(0, _SHOWN).to_pylist())
    more = f" (and {len(bad) - _SHOWN:,} more)" if len(bad) > _SHOWN else ""
    raise InvalidInputError(
        f"column {name!r} cannot be {kind.value}: {len(bad):,} value(s) are not {what}, "
        f"e.g. {shown}{more}",
        column=name,
        semantic_type=kind.value,
        n_invalid=len(bad),
        examples=bad.slice(0, _SHOWN).to_pylist(),
    )
