"""The model registry: named models, numbered versions, aliases and their files.

Every trained model is a version of a named registered model. A version records how it was
made (dataset version, task, target, parameters, metrics, signature, library versions) and
where its files are: the skops model file and each evaluation artifact (PNG + JSON). The
alias ``latest`` follows the newest version; users point ``champion``, ``best_model`` or
any other alias at the version they choose.

Files are written under a fresh random prefix before the database row that names them is
committed, so a crash leaves at worst unreferenced files, never a version without files.
Storage keys come from mlharbor, never from a request.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.data.tasks import Task, parse_task
from mlharbor.errors import ConflictError, InvalidInputError, NotFoundError
from mlharbor.limits import MAX_ID
from mlharbor.registry.allowlist import check_extra
from mlharbor.registry.persist import content_hash, dump_pipeline, load_external, load_trusted
from mlharbor.registry.records import (
    DeletedVersion,
    Deletion,
    ModelVersionRecord,
    RegisteredModelRecord,
    check_alias,
    check_model_name,
    version_number,
)
from mlharbor.store.artifacts import ArtifactStore
from mlharbor.store.db import transaction
from mlharbor.store.orm import ModelAlias, ModelVersion, RegisteredModel, utcnow
from mlharbor.values import jsonable, plain

if TYPE_CHECKING:
    from mlharbor.models.train import TrainResult

log = logging.getLogger(__name__)

LATEST = "latest"
MODEL_FILE = "model.skops"
ARTIFACT_FORMATS = ("png", "json")
#: Concurrent registrations of one model race for the next version number; the loser
#: retries with the number after.
RETRIES = 5


class ModelRegistry:
    """Registered models and their versions, over the metadata database and artifact store.

    Parameters
    ----------
    session_factory : sessionmaker
        From :func:`mlharbor.store.db.make_session_factory`.
    artifacts : ArtifactStore
        Where model files and evaluation artifacts are kept.
    trusted_types : iterable of str, default=()
        The operator's ``MLHARBOR_TRUSTED_MODEL_TYPES``: classes and functions model files
        may hold beyond mlharbor's allow-list (:mod:`mlharbor.registry.allowlist`).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        artifacts: ArtifactStore,
        *,
        trusted_types: Iterable[str] = (),
    ) -> None:
        self.session_factory = session_factory
        self.artifacts = artifacts
        self.trusted_types = tuple(check_extra(trusted_types))
        self._listeners: list[Callable[[str], None]] = []
        self._deletion_listeners: list[Callable[[Deletion], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` after an alias of ``name`` moves or a version comes or goes.

        Caches of alias resolutions (the predictor's) subscribe here, so a move made through
        this registry is seen at once; other processes rely on their cache's expiry.
        """
        self._listeners.append(listener)

    def _changed(self, name: str) -> None:
        for listener in self._listeners:
            listener(name)

    def on_delete(self, listener: Callable[[Deletion], None]) -> None:
        """Call ``listener(deletion)`` after versions (or a whole model) are deleted.

        The registry removes its own rows and files; the layers that keep data about a
        version (monitoring's checks and reference profiles, serving's prediction log)
        subscribe here to remove theirs (the hub wires them), so the registry needs to know
        nothing of them. Called after the deletion is committed; every listener runs even if
        one fails, and the first failure is raised afterwards.
        """
        self._deletion_listeners.append(listener)

    def _deleted(self, deletion: Deletion) -> None:
        failed: Exception | None = None
        for listener in self._deletion_listeners:
            try:
                listener(deletion)
            except Exception as exc:
                log.exception("cleaning up after deleting %s failed", deletion)
                failed = failed or exc
        if failed is not None:
            raise failed

    # ---- writing -------------------------------------------------------------------------

    def register(
        self,
        name: str,
        result: TrainResult,
        *,
        dataset_version_id: int | None = None,
        job_id: int | None = None,
        lineage: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> ModelVersionRecord:
        """Register a trained model as the next version of ``name`` and move ``latest``.

        Parameters
        ----------
        name : str
            The registered model's name (created if new).
        result : TrainResult
            From :func:`mlharbor.models.train.train_model`.
        dataset_version_id, job_id : int, optional
            What it was trained on and by which job.
        lineage : mapping, optional
            More provenance to record (e.g. the dataset name and content hash).
        description : str, default=""
            Set on the registered model when it is created.

        Returns
        -------
        ModelVersionRecord

        Raises
        ------
        InvalidInputError
            An invalid model name.
        """
        check_model_name(name)
        data = dump_pipeline(result.pipeline)
        record = {
            "task": result.task.value,
            "target": result.target,
            "estimator": result.estimator,
            "params": result.estimator_params,
            "metrics": result.metrics,
            "signature": result.signature,
            "train_seconds": result.train_seconds,
            "dataset_version_id": dataset_version_id,
            "job_id": job_id,
            "lineage": {
                **jsonable(dict(lineage or {})),
                "model": result.model,
                "requested_params": result.params,
                "task_reason": result.task_reason,
                "settings": result.settings,
                "dropped": result.dropped,
                "notes": result.notes,
                "library_versions": result.versions,
                "timings": result.timings,
            },
        }
        return self._add_version(name, data, result.artifacts, record, description)

    def register_external(
        self,
        name: str,
        skops_bytes: bytes,
        *,
        task: Task | str | None = None,
        target: str | None = None,
        lineage: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> ModelVersionRecord:
        """Register a fitted scikit-learn model or pipeline uploaded as a ``.skops`` file.

        The file is loaded with :func:`mlharbor.registry.persist.load_external` first:
        anything off mlharbor's allow-list (widened only by the operator's
        ``MLHARBOR_TRUSTED_MODEL_TYPES``) is refused, so a file that cannot be loaded
        safely is never registered.

        Parameters
        ----------
        name : str
        skops_bytes : bytes
        task : Task or str, optional
            Default: from the model (``classes_`` for classifiers, regression otherwise).
        target : str, optional
            The column the model predicts, for the record.

        Raises
        ------
        InvalidInputError
            Invalid name, unreadable file, anything off the allow-list, not a fitted model.
        """
        from mlharbor.models.train import library_versions

        check_model_name(name)
        model = load_external(skops_bytes, extra=self.trusted_types)
        found = parse_task(task) or _task_of(model)
        classes = [plain(c) for c in getattr(model, "classes_", [])] or None
        inputs = [
            {"name": str(col), "semantic_type": None, "storage_type": None, "dtype": None}
            for col in getattr(model, "feature_names_in_", [])
        ]
        record = {
            "task": found.value,
            "target": target,
            "estimator": type(_final_step(model)).__name__,
            "params": jsonable(_final_step(model).get_params(deep=False)),
            "metrics": {},
            "signature": {
                "inputs": inputs,
                "target": {"name": target} if target else None,
                "task": found.value,
                "classes": classes,
                "positive_class": classes[1] if classes and len(classes) == 2 else None,
            },
            "train_seconds": 0.0,
            "lineage": {
                **jsonable(dict(lineage or {})),
                "source": "external .skops upload",
                "library_versions": library_versions(),
            },
        }
        return self._add_version(name, skops_bytes, {}, record, description)

    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersionRecord:
        """Point ``alias`` (e.g. ``champion``) at a version of ``name``; return that version.

        Raises
        ------
        InvalidInputError
            An invalid alias, or ``latest`` (managed by the registry).
        NotFoundError
            Unknown model or version.
        """
        check_alias(alias)
        with transaction(self.session_factory) as session:
            model = self._model(session, name)
            row = self._version(session, model, version)
            self._point(session, model.id, alias, row.id)
            session.flush()
            record = self._record(session, model, row)
        self._changed(name)
        return record

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` from ``name`` (the version stays).

        Raises
        ------
        InvalidInputError
            ``latest``, which the registry manages.
        NotFoundError
            Unknown model, or no such alias on it.
        """
        if alias == LATEST:
            check_alias(alias)
        with transaction(self.session_factory) as session:
            model = self._model(session, name)
            row = session.get(ModelAlias, (model.id, alias))
            if row is None:
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}; its aliases: "
                    f"{', '.join(sorted(self._aliases(session, model.id))) or 'none'}",
                    alias=alias,
                )
            session.delete(row)
        self._changed(name)

    def delete_version(self, name: str, version: int | str, *, force: bool = False) -> None:
        """Delete one version of ``name``: its row, aliases and files.

        ``latest`` moves to the highest remaining version; the registered model stays even
        when its last version goes (use :meth:`delete_model` to remove it).

        Parameters
        ----------
        name : str
        version : int or str
            A version number (``3``, ``"v3"``), not an alias: deleting is explicit.
        force : bool, default=False
            Delete even if an alias other than ``latest`` points at the version.

        Raises
        ------
        NotFoundError
            Unknown model or version.
        ConflictError
            An alias such as ``champion`` points at the version and ``force`` is not set.
        """
        if version_number(version) is None:
            raise InvalidInputError(
                f"give a version number to delete, not {str(version)!r}", version=str(version)
            )
        with transaction(self.session_factory) as session:
            model = self._model(session, name)
            row = self._version(session, model, version)
            names = session.scalars(
                select(ModelAlias.alias).where(ModelAlias.version_id == row.id)
            ).all()
            held = sorted(a for a in names if a != LATEST)
            if held and not force:
                raise ConflictError(
                    f"model {name!r} version {row.version} is pointed at by alias(es) "
                    f"{', '.join(held)}; move or delete them first, or force the deletion",
                    aliases=held,
                )
            doomed = row.artifact_key
            gone = Deletion(name, (DeletedVersion(row.id, row.version),))
            # Aliases first: their foreign key points at the version.
            session.execute(delete(ModelAlias).where(ModelAlias.version_id == row.id))
            session.execute(delete(ModelVersion).where(ModelVersion.id == row.id))
            remaining = session.scalar(
                select(ModelVersion)
                .where(ModelVersion.model_id == model.id)
                .order_by(ModelVersion.version.desc())
                .limit(1)
            )
            # Only ``latest`` on the deleted version needs moving; elsewhere it stays put.
            if remaining is not None and LATEST in names:
                self._point(session, model.id, LATEST, remaining.id)
        self._delete_files([doomed])
        self._changed(name)
        self._deleted(gone)

    def delete_model(self, name: str) -> None:
        """Delete a registered model with all its versions, aliases and files.

        Raises
        ------
        NotFoundError
            Unknown model.
        """
        with transaction(self.session_factory) as session:
            model = self._model(session, name)
            rows = session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id))
            versions = [(row.id, row.version, row.artifact_key) for row in rows]
            doomed = [key for _, _, key in versions]
            gone = Deletion(
                name, tuple(DeletedVersion(i, n) for i, n, _ in versions), whole_model=True
            )
            # Explicit deletes in foreign-key order: the same on SQLite and PostgreSQL, whether
            # or not the database enforces the ON DELETE CASCADE.
            session.execute(delete(ModelAlias).where(ModelAlias.model_id == model.id))
            session.execute(delete(ModelVersion).where(ModelVersion.model_id == model.id))
            session.execute(delete(RegisteredModel).where(RegisteredModel.id == model.id))
        self._delete_files(doomed)
        self._changed(name)
        self._deleted(gone)

    def _delete_files(self, doomed: Iterable[str]) -> None:
        """Remove the files of deleted versions, after their rows are gone.

        Files go second: a crash in between leaves unreferenced files, never a version
        whose files are missing.
        """
        for key in doomed:
            self.artifacts.delete_prefix(key.rsplit("/", 1)[0])

    # ---- reading -------------------------------------------------------------------------

    def list_models(self) -> list[RegisteredModelRecord]:
        """Every registered model, by name, with its aliases and latest version number."""
        with transaction(self.session_factory) as session:
            models = session.scalars(select(RegisteredModel).order_by(RegisteredModel.name))
            return [self._model_record(session, m, with_versions=False) for m in models]

    def get_model(self, name: str) -> RegisteredModelRecord:
        """A registered model with all its versions.

        Raises
        ------
        NotFoundError
            No model of that name (the message lists the registered ones).
        """
        with transaction(self.session_factory) as session:
            return self._model_record(session, self._model(session, name), with_versions=True)

    def get_version(self, name: str, ref: int | str = LATEST) -> ModelVersionRecord:
        """One version of ``name``, by number (``3``, ``"3"``, ``"v3"``) or alias.

        Parameters
        ----------
        name : str
        ref : int or str, default="latest"
            A version number or an alias (``latest``, ``champion``...).

        Raises
        ------
        NotFoundError
            Unknown model, version or alias; the message lists what exists.

        Examples
        --------
        >>> registry.get_version("best_model", "latest").version  # doctest: +SKIP
        3
        """
        with transaction(self.session_factory) as session:
            model = self._model(session, name)
            return self._record(session, model, self._version(session, model, ref))

    def find_version_by_job(self, job_id: int) -> ModelVersionRecord | None:
        """The version a job registered, if any (a retried job must not register twice)."""
        with self.session_factory() as session:
            row = session.scalar(select(ModelVersion).where(ModelVersion.job_id == job_id))
            return None if row is None else self._record(session, row.model, row)

    def find_versions_by_job(self, job_id: int) -> list[ModelVersionRecord]:
        """Every version a job registered, oldest first (an AutoML job may register several)."""
        with self.session_factory() as session:
            rows = session.scalars(
                select(ModelVersion).where(ModelVersion.job_id == job_id).order_by(ModelVersion.id)
            ).all()
            return [self._record(session, row.model, row) for row in rows]

    def load_pipeline(self, name: str, ref: int | str = LATEST) -> Any:
        """The fitted pipeline of a version, loaded from the store with trusted types only.

        Raises
        ------
        NotFoundError
            Unknown model, version or alias, or its file is missing.
        ConflictError
            The stored file does not match its recorded hash, or holds untrusted types.
        """
        version = self.get_version(name, ref)
        data = self.read_model_file(name, version.version)
        if content_hash(data) != version.content_hash:
            raise ConflictError(
                f"the file of model {name!r} version {version.version} does not match its "
                "recorded hash; it was changed or damaged in the store"
            )
        # Checked again on every load, against today's allow-list and setting (never the
        # "trusted_types" older uploads recorded in their lineage).
        return load_trusted(data, extra=self.trusted_types)

    def read_model_file(self, name: str, ref: int | str = LATEST) -> bytes:
        """The ``.skops`` file of a version, for download."""
        with transaction(self.session_factory) as session:
            model = self._model(session, name)
            row = self._version(session, model, ref)
            key, sha256 = row.artifact_key, row.content_hash
        return self.artifacts.get_bytes(key, sha256)  # the database's hash is the one kept

    def export(self, name: str, ref: int | str, out: Path, fmt: str = "mlflow") -> Path:
        """Export a version as an MLflow model directory or an ONNX file at ``out``.

        Raises
        ------
        InvalidInputError
            Unknown format, or a pipeline step the format cannot hold (named).
        NotFoundError
            Unknown model, version or alias.
        """
        from mlharbor.registry.export import FORMATS, export_mlflow, export_onnx

        if fmt not in FORMATS:
            raise InvalidInputError(
                f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}"
            )
        version = self.get_version(name, ref)
        pipeline = self.load_pipeline(name, version.version)
        if fmt == "onnx":
            return export_onnx(pipeline, version, out)
        return export_mlflow(pipeline, version, out)

    def read_artifact(self, name: str, ref: int | str, artifact: str, fmt: str = "png") -> bytes:
        """One evaluation artifact of a version: its PNG image or its JSON data.

        Parameters
        ----------
        name : str
        ref : int or str
            Version number or alias.
        artifact : str
            ``roc_curve``, ``pr_curve``, ``confusion_matrix``, ``calibration``,
            ``feature_importance``, ``learning_curve``, ``predicted_vs_actual``,
            ``residuals`` (those the version has).
        fmt : {"png", "json"}

        Raises
        ------
        NotFoundError
            Unknown model, version, or artifact (the version's artifacts listed).
        InvalidInputError
            Unknown format.
        """
        if fmt not in ARTIFACT_FORMATS:
            raise InvalidInputError(
                f"unknown artifact format {fmt!r}; use one of: {', '.join(ARTIFACT_FORMATS)}"
            )
        version = self.get_version(name, ref)
        if artifact not in version.artifacts:
            raise NotFoundError(
                f"model {name!r} version {version.version} has no artifact {artifact!r}; "
                f"its artifacts: {', '.join(sorted(version.artifacts)) or 'none'}",
                artifact=artifact,
            )
        return self.artifacts.get_bytes(version.artifacts[artifact][fmt]["key"])

    # ---- internals -----------------------------------------------------------------------

    def _add_version(
        self,
        name: str,
        data: bytes,
        artifacts: Mapping[str, Mapping[str, Any]],
        record: dict[str, Any],
        description: str,
    ) -> ModelVersionRecord:
        prefix = f"models/{uuid.uuid4().hex}"
        try:
            stored = self.artifacts.put_bytes(f"{prefix}/{MODEL_FILE}", data)
            values = {
                **record,
                "artifacts": self._store_artifacts(prefix, artifacts),
                "artifact_key": stored.key,
                "content_hash": stored.sha256,
            }
            added = self._insert_version(name, description, values)
        except BaseException:
            self.artifacts.delete_prefix(prefix)
            raise
        self._changed(name)
        return added

    def _insert_version(
        self, name: str, description: str, values: dict[str, Any]
    ) -> ModelVersionRecord:
        for attempt in range(1, RETRIES + 1):
            try:
                with transaction(self.session_factory) as session:
                    model = self._get_or_create(session, name, description)
                    number = max(model.last_version, self._latest_number(session, model.id)) + 1
                    model.last_version = number
                    row = ModelVersion(model_id=model.id, version=number, **values)
                    session.add(row)
                    session.flush()
                    self._point(session, model.id, LATEST, row.id)
                    session.flush()
                    return self._record(session, model, row)
            except IntegrityError as exc:
                if attempt == RETRIES:
                    raise ConflictError(
                        f"could not register a version of {name!r}: {exc.orig}", name=name
                    )
        raise AssertionError("unreachable")  # pragma: no cover

    def _latest_number(self, session: Session, model_id: int) -> int:
        latest = session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id)
        )
        return latest or 0

    def _store_artifacts(
        self, prefix: str, artifacts: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        files: dict[str, Any] = {}
        for artifact, content in artifacts.items():
            png = self.artifacts.put_bytes(f"{prefix}/artifacts/{artifact}.png", content["png"])
            text = json.dumps(content["data"], default=str).encode()
            data = self.artifacts.put_bytes(f"{prefix}/artifacts/{artifact}.json", text)
            files[artifact] = {
                fmt: {"key": s.key, "sha256": s.sha256, "size": s.size}
                for fmt, s in (("png", png), ("json", data))
            }
        return files

    def _get_or_create(self, session: Session, name: str, description: str) -> RegisteredModel:
        model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
        if model is None:
            model = RegisteredModel(name=name, description=description)
            session.add(model)
            session.flush()
        return model

    def _model(self, session: Session, name: str) -> RegisteredModel:
        model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
        if model is None:
            names = session.scalars(select(RegisteredModel.name).order_by(RegisteredModel.name))
            listed = ", ".join(names) or "none yet"
            raise NotFoundError(
                f"no registered model named {name!r}; registered models: {listed}", name=name
            )
        return model

    def _version(self, session: Session, model: RegisteredModel, ref: int | str) -> ModelVersion:
        number = version_number(ref)
        if number is None:
            alias = session.get(ModelAlias, (model.id, str(ref)))
            if alias is None:
                aliases = ", ".join(sorted(self._aliases(session, model.id))) or "none"
                raise NotFoundError(
                    f"model {model.name!r} has no version or alias {str(ref)!r}; "
                    f"its aliases: {aliases}",
                    alias=str(ref),
                )
            return session.get_one(ModelVersion, alias.version_id)
        row = None
        if 1 <= number <= MAX_ID:  # a number past the column's range is asked of no database
            row = session.scalar(
                select(ModelVersion).where(
                    ModelVersion.model_id == model.id, ModelVersion.version == number
                )
            )
        if row is None:
            numbers = session.scalars(
                select(ModelVersion.version)
                .where(ModelVersion.model_id == model.id)
                .order_by(ModelVersion.version)
            )
            listed = ", ".join(map(str, numbers)) or "none"
            raise NotFoundError(
                f"model {model.name!r} has no version {number}; its versions: {listed}",
                version=number,
            )
        return row

    def _point(self, session: Session, model_id: int, alias: str, version_id: int) -> None:
        row = session.get(ModelAlias, (model_id, alias))
        if row is None:
            session.add(ModelAlias(model_id=model_id, alias=alias, version_id=version_id))
        else:
            row.version_id, row.updated_at = version_id, utcnow()

    def _aliases(self, session: Session, model_id: int) -> dict[str, int]:
        """``{alias: version number}`` of a model."""
        rows = session.execute(
            select(ModelAlias.alias, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
            .where(ModelAlias.model_id == model_id)
        )
        return {alias: version for alias, version in rows}

    def _record(
        self, session: Session, model: RegisteredModel, row: ModelVersion
    ) -> ModelVersionRecord:
        aliases = sorted(a for a, v in self._aliases(session, model.id).items() if v == row.version)
        return _version_record(model.name, row, aliases)

    def _model_record(
        self, session: Session, model: RegisteredModel, *, with_versions: bool
    ) -> RegisteredModelRecord:
        aliases = self._aliases(session, model.id)
        versions: list[ModelVersionRecord] = []
        if with_versions:
            rows = session.scalars(
                select(ModelVersion)
                .where(ModelVersion.model_id == model.id)
                .order_by(ModelVersion.version)
            )
            versions = [
                _version_record(
                    model.name, r, sorted(a for a, v in aliases.items() if v == r.version)
                )
                for r in rows
            ]
        latest = self._latest_number(session, model.id) or None
        return RegisteredModelRecord(
            id=model.id,
            name=model.name,
            description=model.description,
            created_at=model.created_at,
            latest_version=latest,
            aliases=aliases,
            versions=versions,
        )


def _version_record(name: str, row: ModelVersion, aliases: list[str]) -> ModelVersionRecord:
    return ModelVersionRecord(
        id=row.id,
        model=name,
        version=row.version,
        aliases=aliases,
        task=row.task,
        target=row.target,
        estimator=row.estimator,
        params=dict(row.params),
        metrics=dict(row.metrics),
        artifacts=dict(row.artifacts),
        signature=dict(row.signature),
        lineage=dict(row.lineage),
        dataset_version_id=row.dataset_version_id,
        job_id=row.job_id,
        content_hash=row.content_hash,
        train_seconds=row.train_seconds,
        created_at=row.created_at,
    )


def _final_step(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _task_of(model: Any) -> Task:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model):
        return Task.BINARY if len(getattr(model, "classes_", ())) == 2 else Task.MULTICLASS
    if is_regressor(model):
        return Task.REGRESSION
    raise InvalidInputError(
        f"cannot tell whether the uploaded {type(model).__name__} classifies or regresses; "
        "give the task"
    )
