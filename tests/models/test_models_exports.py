from __future__ import annotations

import mlharbor.models
import mlharbor.prep
import mlharbor.registry


def test_public_surface_of_the_core_packages_is_pinned() -> None:
    assert sorted(mlharbor.prep.__all__) == [
        "DatetimeFeatures",
        "FeaturePlan",
        "TextFeatures",
        "apply_overrides",
        "feature_origins",
        "make_preprocessor",
        "native_categorical_columns",
        "plan_features",
    ]
    assert sorted(mlharbor.models.__all__) == [
        "CATALOG",
        "ModelSpec",
        "Problem",
        "Scaling",
        "Task",
        "TrainConfig",
        "TrainResult",
        "artifact_names",
        "check_train_request",
        "coerce_param",
        "compute_metrics",
        "detect_task",
        "get_spec",
        "library_versions",
        "make_artifacts",
        "model_names",
        "parse_params",
        "parse_task",
        "prepare_input",
        "resolve_model",
        "resolve_problem",
        "train_model",
        "validate_params",
    ]
    assert sorted(mlharbor.registry.__all__) == [
        "ModelRegistry",
        "ModelVersionRecord",
        "RegisteredModelRecord",
        "TRUSTED_TYPES",
        "dump_pipeline",
        "load_external",
        "load_trusted",
        "suggest_model_name",
    ]
    for package in (mlharbor.prep, mlharbor.models, mlharbor.registry):
        for name in package.__all__:
            assert hasattr(package, name), f"{package.__name__}.{name}"
