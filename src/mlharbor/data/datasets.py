"""Datasets and their versions: ingest, list, read, override the schema, delete.

A dataset is a name with numbered versions. Each version is one file as it was received,
stored as Parquet under a key derived from its content hash, with its inferred schema. The
same content uploaded again under the same name returns the existing version.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.config import Settings
from mlharbor.data.limits import ReadLimits
from mlharbor.data.schema import DatasetSchema, SemanticType
from mlharbor.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
)
from mlharbor.limits import MAX_ID
from mlharbor.names import check_name
from mlharbor.store.artifacts import CHUNK, STREAM_BLOCK, ArtifactStore
from mlharbor.store.db import transaction
from mlharbor.store.orm import (
    Dataset,
    DatasetVersion,
    InsightsRecord,
    ModelVersion,
    RegisteredModel,
)

if TYPE_CHECKING:  # ingestion's modules (pyarrow.compute, CSV and Excel readers) load on use
    from mlharbor.data.convert import Converted

_CHECKED = {
    SemanticType.NUMERIC,
    SemanticType.INTEGER_CATEGORICAL,
    SemanticType.BOOLEAN,
    SemanticType.DATETIME,
}
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DatasetVersionInfo:
    """One stored version of a dataset."""

    dataset: str
    version: int
    content_hash: str
    n_rows: int
    n_columns: int
    size_bytes: int
    source: str
    source_format: str
    schema: DatasetSchema
    created_at: datetime
    id: int
    artifact_key: str


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset and its versions, oldest first."""

    id: int
    name: str
    description: str
    created_at: datetime
    versions: list[DatasetVersionInfo]

    @property
    def latest(self) -> DatasetVersionInfo:
        return self.versions[-1]


@dataclass(frozen=True)
class IngestResult:
    """The version an ingest produced, and whether it is new."""

    version: DatasetVersionInfo
    created: bool


def name_from_filename(filename: str) -> str:
    """A dataset name derived from a file name (``Sales 2024.csv`` → ``Sales-2024``)."""
    stem = Path(filename).name.split(".")[0]
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", stem).strip("-.")[:128]
    if not slug or slug.isdigit():
        slug = f"dataset-{slug}" if slug else "dataset"
    return slug


def _version_info(row: DatasetVersion, dataset_name: str) -> DatasetVersionInfo:
    return DatasetVersionInfo(
        dataset=dataset_name,
        version=row.version,
        content_hash=row.content_hash,
        n_rows=row.n_rows,
        n_columns=row.n_columns,
        size_bytes=row.size_bytes,
        source=row.source,
        source_format=row.source_format,
        schema=DatasetSchema.from_dict(row.schema),
        created_at=row.created_at,
        id=row.id,
        artifact_key=row.artifact_key,
    )


def _dataset_info(row: Dataset) -> DatasetInfo:
    return DatasetInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        versions=[_version_info(v, row.name) for v in row.versions],
    )


class DatasetService:
    """Create, read and delete datasets. Owns its transactions."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], artifacts: ArtifactStore
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.artifacts = artifacts
        self.staging_dir = settings.data_dir / "uploads"
        self.limits = ReadLimits(
            max_columns=settings.max_columns,
            max_rows=settings.max_rows,
            max_decompressed_bytes=settings.resolved_max_decompressed_bytes(),
            max_json_depth=settings.max_json_depth,
        )

    # ------------------------------------------------------------ ingest

    def staged_file(self) -> Path:
        """A new empty file in the upload staging folder (the caller removes it)."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.staging_dir)
        os.close(fd)
        return Path(name)

    def ingest_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        filename: str | None = None,
        source: str | None = None,
        description: str = "",
        sha256: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Ingest a local file as a new version of the dataset ``name``.

        Parameters
        ----------
        path : Path
            The file to read. It is not modified or removed.
        name : str, optional
            The dataset's name; by default derived from ``filename``.
        filename : str, optional
            The file's original name (its extension helps detect the format).
        source : str, optional
            Where the data came from, recorded with the version.
        sha256 : str, optional
            The file's hash, if the caller computed it while receiving it.
        progress : callable, optional
            Called with ``(fraction, message)`` as the work advances.

        Returns
        -------
        IngestResult
            The version, and ``created=False`` if identical content was already stored.

        Raises
        ------
        InvalidInputError, UnsupportedFormatError, PayloadTooLargeError
            The file cannot become a dataset; nothing is stored.
        """
        filename = filename or path.name
        name = check_name(name or name_from_filename(filename))
        report = progress or (lambda fraction, message: None)
        size = path.stat().st_size
        if size > self.settings.max_upload_bytes:
            raise PayloadTooLargeError(
                f"the file has {size:,} bytes; the limit is {self.settings.max_upload_bytes:,}"
            )
        if sha256 is not None:  # hashed while it was received: known content costs nothing
            existing = self._find_by_hash(name, sha256)
            if existing is not None:
                return IngestResult(existing, created=False)
        report(0.05, "reading")
        from mlharbor.data.convert import convert_file

        with self.artifacts.staging(".parquet") as staged:
            # One pass: the file is hashed while it is parsed, and written while it is read.
            converted = convert_file(
                path,
                staged,
                filename,
                limits=self.limits,
                sha256=sha256,
                on_bytes=lambda done, total: report(0.05 + 0.85 * done / max(total, 1), "reading"),
            )
            if sha256 is None:
                existing = self._find_by_hash(name, converted.sha256)
                if existing is not None:
                    return IngestResult(existing, created=False)
            return self._store(
                name, converted, staged, source or f"file:{filename}", description, report
            )

    def ingest_stream(
        self,
        stream: BinaryIO,
        *,
        filename: str,
        name: str | None = None,
        source: str | None = None,
        description: str = "",
    ) -> IngestResult:
        """Ingest a file being received (an upload): staged to disk while hashed, size-limited.

        Raises
        ------
        PayloadTooLargeError
            Over ``settings.max_upload_bytes``; nothing is kept.
        """
        limit = self.settings.max_upload_bytes
        staged = self.staged_file()
        try:
            digest, size = hashlib.sha256(), 0
            with open(staged, "wb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLargeError(
                            f"the upload is over the limit of {limit:,} bytes"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            return self.ingest_file(
                staged,
                name=name,
                filename=filename,
                source=source or f"upload:{filename}",
                description=description,
                sha256=digest.hexdigest(),
            )
        finally:
            staged.unlink(missing_ok=True)

    def ingest_url(
        self,
        url: str,
        *,
        name: str | None = None,
        description: str = "",
        progress: Progress | None = None,
    ) -> IngestResult:
        """Fetch an http(s) URL (size- and time-limited) and ingest it."""
        if name is not None:
            check_name(name)
        from mlharbor.data.fetch import fetch  # httpx: only for a URL

        staged = self.staged_file()
        try:
            got = fetch(
                url,
                staged,
                max_bytes=self.settings.max_upload_bytes,
                timeout=self.settings.url_timeout_seconds,
                allow_private=self.settings.url_allow_private,
            )
            return self.ingest_file(
                staged,
                name=name or name_from_filename(got.filename),
                filename=got.filename,
                source=f"url:{url}",
                description=description,
                sha256=got.sha256,
                progress=progress,
            )
        finally:
            staged.unlink(missing_ok=True)

    def ingest_records(self, records: Any, *, name: str, description: str = "") -> IngestResult:
        """Ingest JSON records (a list of objects) or columns (an object of lists)."""
        from mlharbor.data.convert import Converted
        from mlharbor.data.ingest import SourceFormat, check_table, records_to_table
        from mlharbor.data.parquet import write_table
        from mlharbor.data.schema import infer_schema

        check_name(name)
        notes: list[str] = []
        table = check_table(
            records_to_table(records), notes, self.settings.max_columns, self.settings.max_rows
        )
        digest = hashlib.sha256(
            json.dumps(records, sort_keys=True, default=str).encode()
        ).hexdigest()
        existing = self._find_by_hash(name, digest)
        if existing is not None:
            return IngestResult(existing, created=False)
        with self.artifacts.staging(".parquet") as staged:
            written = write_table(table, staged)
            converted = Converted(
                digest,
                SourceFormat.JSON,
                table.num_rows,
                table.num_columns,
                infer_schema(table, notes),
                notes,
                written,
            )
            return self._store(name, converted, staged, "records", description, None)

    def ingest_batches(
        self,
        parts: Iterable[pa.Table | pa.RecordBatch],
        *,
        name: str,
        source: str,
        description: str = "",
    ) -> IngestResult:
        """Store tables or record batches this process makes (a scored dataset) as a new
        version of ``name``, written as they arrive (see :func:`convert_batches`).

        Memory is a few row groups and the schema's sample whatever the number of rows.
        """
        from mlharbor.data.convert import convert_batches

        check_name(name)
        with self.artifacts.staging(".parquet", what=f"dataset {name!r}") as staged:
            converted = convert_batches(parts, staged, max_columns=self.settings.max_columns)
            existing = self._find_by_hash(name, converted.sha256)
            if existing is not None:
                return IngestResult(existing, created=False)
            return self._store(name, converted, staged, source, description, None)

    def _store(
        self,
        name: str,
        converted: Converted,
        staged: Path,
        source: str,
        description: str,
        report: Progress | None,
    ) -> IngestResult:
        report = report or (lambda fraction, message: None)
        report(0.9, "storing")
        key = f"datasets/{name}/{converted.sha256[:20]}.parquet"
        stored = self.artifacts.commit(key, staged, converted.parquet_sha256 or None)
        report(0.95, "recording")
        try:
            info = self._record(name, description, converted, source, stored)
        except IntegrityError:
            existing = self._find_by_hash(name, converted.sha256)
            if existing is None:
                self.artifacts.delete(key)
                raise ConflictError(f"dataset {name!r} changed while it was being written; retry")
            return IngestResult(existing, created=False)
        except BaseException:
            self.artifacts.delete(key)
            raise
        report(1.0, "done")
        return IngestResult(info, created=True)

    def _record(
        self,
        name: str,
        description: str,
        converted: Converted,
        source: str,
        stored: Any,
    ) -> DatasetVersionInfo:
        with transaction(self.sessions) as session:
            dataset = session.scalar(select(Dataset).where(Dataset.name == name))
            if dataset is None:
                dataset = Dataset(name=name, description=description)
                session.add(dataset)
                session.flush()
            elif description:
                dataset.description = description
            number = (
                session.scalar(
                    select(func.max(DatasetVersion.version)).where(
                        DatasetVersion.dataset_id == dataset.id
                    )
                )
                or 0
            ) + 1
            row = DatasetVersion(
                dataset_id=dataset.id,
                version=number,
                content_hash=converted.sha256,
                n_rows=converted.n_rows,
                n_columns=converted.n_columns,
                size_bytes=stored.size,
                source=source[:2000],
                source_format=str(converted.format),
                artifact_key=stored.key,
                schema=converted.schema.to_dict(),
            )
            session.add(row)
            session.flush()
            return _version_info(row, name)

    def _find_by_hash(self, name: str, digest: str) -> DatasetVersionInfo | None:
        with self.sessions() as session:
            row = session.scalar(
                select(DatasetVersion)
                .join(Dataset)
                .where(Dataset.name == name, DatasetVersion.content_hash == digest)
            )
            return _version_info(row, name) if row else None

    # ------------------------------------------------------------ read

    def list(self, *, limit: int = 50, offset: int = 0) -> tuple[list[DatasetInfo], int]:
        """A page of datasets, newest first, and the total count."""
        with self.sessions() as session:
            total = session.scalar(select(func.count(Dataset.id))) or 0
            rows = session.scalars(
                select(Dataset).order_by(Dataset.id.desc()).limit(limit).offset(offset)
            ).all()
            return [_dataset_info(r) for r in rows], total

    def get(self, ref: str | int) -> DatasetInfo:
        """A dataset by name or numeric id; ``NotFoundError`` if there is none."""
        with self.sessions() as session:
            row = self._lookup(session, ref)
            return _dataset_info(row)

    def _lookup(self, session: Session, ref: str | int) -> Dataset:
        text = str(ref)
        # isdigit() accepts '³'; ids are plain ASCII digits that fit the database's integers.
        is_id = text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID
        query = select(Dataset).where(Dataset.id == int(text) if is_id else Dataset.name == text)
        row = session.scalar(query)
        if row is None:
            raise NotFoundError(f"dataset {text!r} does not exist", dataset=text)
        return row

    def get_version(self, ref: str | int, version: int | None = None) -> DatasetVersionInfo:
        """A version of a dataset (the latest when ``version`` is None)."""
        info = self.get(ref)
        if version is None:
            return info.latest
        for v in info.versions:
            if v.version == version:
                return v
        numbers = ", ".join(str(v.version) for v in info.versions)
        raise NotFoundError(
            f"dataset {info.name!r} has no version {version}; its versions are: {numbers}",
            dataset=info.name,
        )

    def read_table(
        self, version: DatasetVersionInfo, columns: builtins.list[str] | None = None
    ) -> pa.Table:
        """The stored data of a version as an Arrow table."""
        path = self.artifacts.local_path(version.artifact_key)
        if path is not None:
            # A memory map, not a Python file object: Arrow's threads then read and decode
            # the columns in parallel without taking the GIL for every read (2-3x faster).
            try:
                source = pa.memory_map(str(path))
            except FileNotFoundError:
                raise NotFoundError(f"artifact {version.artifact_key!r} is missing from the store")
            with source:
                return pq.ParquetFile(source).read(columns=columns)
        with self.artifacts.open(version.artifact_key) as fh:
            # ParquetFile, not pq.read_table: the latter goes through pyarrow.dataset, which
            # imports pandas (about 0.5 s) for a single file it reads the same way.
            return pq.ParquetFile(fh).read(columns=columns)

    @contextmanager
    def open_parquet(
        self, version: DatasetVersionInfo, *, block_size: int = STREAM_BLOCK
    ) -> Iterator[pq.ParquetFile]:
        """The stored file of a version, open for reading by row groups (local or remote).

        On a remote store every read also fetches ``block_size`` bytes ahead: large for
        reading the file through, small for reading a few row groups.
        """
        with self.artifacts.open(version.artifact_key, block_size=block_size) as fh:
            yield pq.ParquetFile(fh)

    def read_rows(
        self,
        version: DatasetVersionInfo,
        start: int,
        stop: int,
        columns: builtins.list[str] | None = None,
    ) -> pa.Table:
        """Rows ``start:stop`` of a version (of ``columns`` only, if given); only the row
        groups holding them are read."""
        from mlharbor.data.parquet import read_rows

        with self.open_parquet(version, block_size=CHUNK) as parquet:
            return read_rows(parquet, start, stop, columns)

    def iter_slices(
        self, version: DatasetVersionInfo, rows: int
    ) -> Generator[pa.Table, None, None]:
        """A version as consecutive tables of ``rows`` rows, read as they are consumed."""
        from mlharbor.data.parquet import iter_slices

        with self.open_parquet(version) as parquet:
            yield from iter_slices(parquet, rows)

    def preview(self, version: DatasetVersionInfo, rows: int = 20) -> builtins.list[dict[str, Any]]:
        """The first ``rows`` rows as JSON-ready records (dates as ISO text, NaN as null)."""
        rows = max(0, min(rows, self.settings.preview_max_rows))
        with self.artifacts.open(version.artifact_key) as fh:
            reader = pq.ParquetFile(fh)
            batches = []
            taken = 0
            for batch in reader.iter_batches(batch_size=max(rows, 1)):
                batches.append(batch.slice(0, rows - taken))
                taken += batches[-1].num_rows
                if taken >= rows:
                    break
            schema = reader.schema_arrow
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        return [{k: json_value(v) for k, v in rec.items()} for rec in table.to_pylist()]

    def iter_file(self, version: DatasetVersionInfo) -> Iterator[bytes]:
        """The stored Parquet file, in chunks (bounded memory; hash-checked at the end)."""
        yield from self.artifacts.iter_chunks(version.artifact_key)

    def iter_csv(self, version: DatasetVersionInfo) -> Iterator[bytes]:
        """The data as UTF-8 CSV with a header, converted batch by batch."""
        import pyarrow.csv as pacsv

        with self.artifacts.open(version.artifact_key) as fh:
            reader = pq.ParquetFile(fh)
            first = True
            for batch in reader.iter_batches(batch_size=65_536):
                buf = io.BytesIO()
                pacsv.write_csv(
                    pa.Table.from_batches([batch]),
                    buf,
                    pacsv.WriteOptions(include_header=first),
                )
                first = False
                yield buf.getvalue()

    # ------------------------------------------------------------ change

    def override_schema(
        self,
        ref: str | int,
        version: int | None,
        changes: Mapping[str, Mapping[str, str | None]],
    ) -> DatasetVersionInfo:
        """Set the semantic type and/or role of columns of a version, as the user asked."""
        target = self.get_version(ref, version)
        schema = target.schema
        for column, change in changes.items():
            schema.override(
                column, semantic_type=change.get("semantic_type"), role=change.get("role")
            )
        # A type the stored values cannot take would only fail later, inside training.
        typed = {
            column: kind
            for column, change in changes.items()
            if (kind := change.get("semantic_type")) is not None and kind in _CHECKED
        }
        if typed:
            from mlharbor.data.schema import check_override

            data = self.read_table(target, columns=[*typed])
            for column, kind in typed.items():
                check_override(data.column(column), schema.column(column), kind)
        with transaction(self.sessions) as session:
            row = session.get(DatasetVersion, target.id)
            if row is None:
                raise NotFoundError(f"dataset {target.dataset!r} version {target.version} is gone")
            row.schema = schema.to_dict()
            # Cached insights were computed under the old types.
            for record in session.scalars(
                select(InsightsRecord).where(InsightsRecord.dataset_version_id == row.id)
            ):
                session.delete(record)
            return _version_info(row, target.dataset)

    def delete(self, ref: str | int, version: int | None = None) -> None:
        """Delete a dataset (or one version); refused while a model was trained on it."""
        info = self.get(ref)
        doomed = [v for v in info.versions if version is None or v.version == version]
        if version is not None and not doomed:
            self.get_version(ref, version)  # raises the NotFoundError with the valid versions
        with transaction(self.sessions) as session:
            users = session.execute(
                select(ModelVersion.model_id, ModelVersion.version).where(
                    ModelVersion.dataset_version_id.in_([v.id for v in doomed])
                )
            ).all()
            if users:
                names = {
                    m.id: m.name
                    for m in session.scalars(
                        select(RegisteredModel).where(RegisteredModel.id.in_({u[0] for u in users}))
                    )
                }
                used = ", ".join(sorted({f"{names[m]} v{v}" for m, v in users}))
                raise ConflictError(
                    f"dataset {info.name!r} is used by model versions {used}; "
                    "delete those models first",
                    dataset=info.name,
                )
            if version is None or len(doomed) == len(info.versions):
                session.delete(session.get(Dataset, info.id))
            else:
                for v in doomed:
                    session.delete(session.get(DatasetVersion, v.id))
        for v in doomed:
            self.artifacts.delete(v.artifact_key)
            self.artifacts.delete_prefix(f"insights/{v.id}")
        if version is None:
            self.artifacts.delete_prefix(f"datasets/{info.name}")


def json_value(value: Any) -> Any:
    """A value as strict JSON: NaN/inf → None, dates → ISO text, decimals → float."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
