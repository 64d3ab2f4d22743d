"""Settings, read from ``MLHARBOR_*`` environment variables and a ``.env`` file.

Every setting has an embedded default, so ``mlharbor serve`` needs nothing else: a SQLite
database and an artifact folder inside ``data_dir``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """mlharbor's configuration. Each field ``x`` is read from ``MLHARBOR_X``."""

    model_config = SettingsConfigDict(
        env_prefix="MLHARBOR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path("mlharbor-data"), description="Folder for the embedded store.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file in data_dir."
    )
    artifact_uri: str | None = Field(
        None, description="fsspec URL or folder for artifacts; default: data_dir/artifacts."
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint, e.g. http://minio:9000"
    )
    host: str = "127.0.0.1"
    port: int = 8000

    max_upload_bytes: int = Field(1 << 30, description="Largest accepted upload or download.")
    max_columns: int = Field(10_000, description="Widest accepted dataset.")
    url_timeout_seconds: float = Field(30.0, description="Timeout for fetching a dataset URL.")
    url_allow_private: bool = Field(
        False, description="Let dataset URLs reach loopback and private-network addresses."
    )
    preview_max_rows: int = 1000
    max_predict_rows: int = Field(100_000, description="Most rows in one prediction request.")
    predict_cache_size: int = Field(16, description="Most models kept loaded for prediction.")
    predict_ref_ttl_seconds: float = Field(
        2.0, description="How long an alias resolution is trusted before asking the database."
    )
    predict_onnx: bool = Field(
        True, description="Serve with onnxruntime when a model converts and agrees with sklearn."
    )
    predict_warm_seconds: float = Field(
        0.25, ge=0, description="How often a server loads newly registered versions; 0: never."
    )
    max_ws_message_bytes: int = Field(64 << 20, description="Largest WebSocket message.")
    max_decompressed_bytes: int | None = Field(
        None, description="Most bytes a file may decompress to; default 20 × max_upload_bytes."
    )
    max_rows: int = Field(100_000_000, description="Longest accepted dataset, in rows.")
    max_json_body_bytes: int = Field(
        32 << 20, description="Largest request body that is not a file upload (JSON, CSV)."
    )
    max_json_depth: int = Field(
        64, ge=1, le=512, description="Deepest JSON nesting accepted in a body, message or file."
    )

    workers: int = Field(2, description="Processes in the embedded local worker pool.")
    dask_address: str | None = Field(None, description="Dask scheduler, e.g. tcp://host:8786.")
    compat_train_wait_seconds: float = Field(
        600.0, description="How long POST /train waits before answering 202 with the job."
    )
    job_heartbeat_seconds: float = Field(5.0, description="How often workers beat per job.")
    job_lease_seconds: float = Field(30.0, description="Silence after which a worker is lost.")
    job_poll_seconds: float = Field(0.5, description="How often idle workers look for jobs.")
    job_recovery_seconds: float = Field(10.0, description="How often lost jobs are looked for.")
    job_default_timeout_seconds: float | None = Field(None, description="Default job limit.")
    job_max_attempts: int = Field(3, description="Attempts before a crashing job fails.")
    job_cancel_grace_seconds: float = 5.0
    job_stop_grace_seconds: float = 10.0
    job_compute_workers: int | None = Field(None, description="Local fan-out processes.")

    predlog_enabled: bool = Field(True, description="Log predictions for monitoring.")
    predlog_sample_rate: float = Field(
        1.0, ge=0.0, le=1.0, description="Share of predict calls kept in the prediction log."
    )
    predlog_queue_size: int = Field(10_000, description="Predict calls waiting to be logged.")
    predlog_flush_seconds: float = Field(5.0, description="Longest wait before logging.")
    predlog_batch_rows: int = Field(50_000, description="Rows per prediction-log file.")
    drift_numeric_threshold: float = Field(0.1, description="Normed Wasserstein distance.")
    drift_categorical_threshold: float = Field(0.1, description="Jensen-Shannon distance.")
    drift_alpha: float = Field(0.05, description="Significance level of the drift tests.")
    drift_small_sample: int = Field(1000, description="Rows up to which p-values decide.")
    drift_share_threshold: float = Field(0.5, description="Drifted share for dataset drift.")
    drift_missing_threshold: float = Field(0.05, description="Change of missing share.")
    drift_new_category_threshold: float = Field(0.01, description="Share of new categories.")
    drift_psi_threshold: float = Field(
        0.25, description="PSI from which a significant change counts as drift."
    )
    drift_important_features: int = Field(
        3, description="Drift in one of this many most important inputs is serious."
    )
    performance_drop_threshold: float = Field(
        0.05, description="Drop of the main metric (absolute) that raises an alert."
    )
    monitor_models: list[str] = Field(
        default_factory=list, description='Models checked on a schedule, e.g. ["churn@champion"].'
    )
    monitor_interval_seconds: float = Field(3600.0, description="Time between drift checks.")
    monitor_window: str = Field("7d", description="Prediction-log window a check looks at.")
    alert_webhook_url: str | None = Field(None, description="URL sent alerts as JSON (POST).")
    mlflow_tracking_uri: str | None = Field(
        None,
        description="MLflow tracking server every train and AutoML job is also logged to, "
        "e.g. http://mlflow:5000 (an operator's setting: not put through the URL guard).",
    )
    public_url: str | None = Field(
        None, description="Where users reach mlharbor, for links back; default http://host:port."
    )

    auth_enabled: bool = Field(False, description="Require API keys on every non-public route.")
    trusted_model_types: list[str] = Field(
        default_factory=list,
        description="Classes/functions model files may hold beyond mlharbor's allow-list.",
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS.")
    allowed_hosts: list[str] = Field(
        default_factory=list, description='Host names served besides loopback; "*" for any.'
    )
    session_ttl_seconds: float = Field(12 * 3600.0, gt=0, description="Browser sign-in life.")
    trust_proxy_headers: bool = Field(
        False, description="Honour X-Forwarded-Proto/-Host from a TLS-terminating proxy."
    )
    log_level: str = "INFO"

    @field_validator("trusted_model_types")
    @classmethod
    def _no_stdlib_types(cls, names: list[str]) -> list[str]:
        from mlharbor.registry.allowlist import check_extra  # stdlib imports only

        return check_extra(names)

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _tracking_server(cls, uri: str | None) -> str | None:
        if uri is None or not uri.strip():
            return None
        from mlharbor.tracking.rest import check_tracking_uri

        return check_tracking_uri(uri)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the public URL must be http(s)://host[:port][/path], got {url!r}")
        return url.strip().rstrip("/")

    def resolved_public_url(self) -> str:
        """Where users reach mlharbor, defaulting to ``http://host:port`` (loopback for a
        wildcard host)."""
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mlharbor.db').resolve()}"

    def resolved_max_decompressed_bytes(self) -> int:
        """The decompressed-size limit, defaulting to 20 times the upload limit."""
        if self.max_decompressed_bytes is not None:
            return self.max_decompressed_bytes
        return 20 * self.max_upload_bytes

    def resolved_artifact_uri(self) -> str:
        """The artifact root, defaulting to ``data_dir/artifacts``."""
        if self.artifact_uri:
            return self.artifact_uri
        return str((self.data_dir / "artifacts").resolve())


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
