"""Quality warnings: what will trip a model up, each with its column(s) and evidence."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import Any

from mlharbor.data.insights._frame import Frame
from mlharbor.data.schema import SemanticType

HIGH_MISSING_SHARE = 0.3
SOME_MISSING_SHARE = 0.05
NEAR_CONSTANT_SHARE = 0.95
HIGH_CARDINALITY = 50
SKEW = 2.0
IMBALANCE_RATIO = 5.0
#: A feature that alone predicts the target this well (cross-validated) may be a leak.
LEAK_SCORES = {"auc": 0.98, "balanced_accuracy": 0.98, "r2": 0.98}
LEAK_NAMES = {"auc": "AUC", "balanced_accuracy": "balanced accuracy", "r2": "R²"}
REDUNDANT = 0.95
MOSTLY_NUMBERS = 0.5


class WarningKind(StrEnum):
    """What a quality warning is about."""

    CONSTANT = "constant"
    NEAR_CONSTANT = "near_constant"
    IDENTIFIER = "identifier"
    HIGH_CARDINALITY = "high_cardinality"
    HIGH_MISSING = "high_missing"
    MISSING_VALUES = "missing_values"
    DUPLICATED_COLUMNS = "duplicated_columns"
    HIGHLY_CORRELATED = "highly_correlated"
    DUPLICATE_ROWS = "duplicate_rows"
    MIXED_TYPES = "mixed_types"
    EMPTY_STRINGS = "empty_strings"
    INFINITE_VALUES = "infinite_values"
    UNPARSED_DATES = "unparsed_dates"
    SKEWED = "skewed"
    IMBALANCED_TARGET = "imbalanced_target"
    TARGET_LEAKAGE = "target_leakage"
    TARGET_MISSING = "target_missing"
    UNUSABLE_TARGET = "unusable_target"


def _warning(
    kind: WarningKind, columns: list[str], message: str, **evidence: Any
) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "column": columns[0] if columns else None,
        "columns": columns,
        "message": message,
        "evidence": evidence,
    }


def quality_warnings(
    frame: Frame,
    table: dict[str, Any],
    columns: list[dict[str, Any]],
    target: dict[str, Any] | None,
    associations: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every warning about the table, its columns and its target, most serious kinds first.

    Parameters
    ----------
    frame : Frame
        The whole dataset (to confirm that columns with equal fingerprints are equal).
    table : dict
        The table statistics.
    columns : list of dict
        The per-column statistics.
    target : dict or None
        The target analysis, when a target was given.
    associations : dict, optional
        The associations, for pairs of columns that say nearly the same thing.

    Returns
    -------
    list of dict
        Each ``{"kind", "column", "columns", "message", "evidence"}``.
    """
    out = []
    if target is not None:
        out += _target_warnings(target)
    duplicated = _duplicated_columns(frame, columns)
    out += duplicated
    if associations is not None:
        seen = {frozenset(w["columns"]) for w in duplicated}
        out += _redundant_pairs(associations, seen, target)
    for col in columns:
        out += _column_warnings(col, frame.n_rows)
    if table["duplicate_rows"]:
        n = table["duplicate_rows"]
        out.append(
            _warning(
                WarningKind.DUPLICATE_ROWS,
                [],
                f"{n} rows repeat an earlier row exactly ({n / table['n_rows']:.1%} of rows)",
                duplicate_rows=n,
                share=n / table["n_rows"],
            )
        )
    return out


def _column_warnings(col: dict[str, Any], n_rows: int) -> list[dict[str, Any]]:
    name, kind = col["name"], col["semantic_type"]
    present, distinct = col["n_present"], col["n_distinct"]
    out = []
    if present == 0:
        return [
            _warning(
                WarningKind.HIGH_MISSING,
                [name],
                f"every value of {name!r} is missing; the column carries no information",
                missing_share=1.0,
                n_missing=col["n_missing"],
            )
        ]
    if SOME_MISSING_SHARE <= col["missing_share"] < HIGH_MISSING_SHARE:
        out.append(
            _warning(
                WarningKind.MISSING_VALUES,
                [name],
                f"{col['missing_share']:.0%} of the values of {name!r} are missing "
                f"({col['n_missing']:,} rows); they will need imputing or a missing indicator",
                missing_share=col["missing_share"],
                n_missing=col["n_missing"],
            )
        )
    if col["missing_share"] >= HIGH_MISSING_SHARE:
        out.append(
            _warning(
                WarningKind.HIGH_MISSING,
                [name],
                f"{col['missing_share']:.0%} of the values of {name!r} are missing",
                missing_share=col["missing_share"],
                n_missing=col["n_missing"],
            )
        )
    top: dict[str, Any] | None = col["top_values"][0] if col["top_values"] else None
    if distinct == 1 and top is not None:  # one distinct value is its top value
        out.append(
            _warning(
                WarningKind.CONSTANT,
                [name],
                f"{name!r} has a single value ({top['value']!r}) and tells nothing apart",
                value=top["value"],
                n_distinct=1,
            )
        )
    elif top is not None and top["share"] >= NEAR_CONSTANT_SHARE and not col.get("is_target"):
        # A lopsided target is reported as an imbalanced target instead.
        out.append(
            _warning(
                WarningKind.NEAR_CONSTANT,
                [name],
                f"{top['share']:.1%} of the values of {name!r} are {top['value']!r}",
                value=top["value"],
                share=top["share"],
                n_distinct=distinct,
            )
        )
    if kind == SemanticType.IDENTIFIER:
        out.append(
            _warning(
                WarningKind.IDENTIFIER,
                [name],
                f"{name!r} looks like a row identifier ({_unwrap(col['evidence'])}); "
                "it should not be used as a feature",
                n_distinct=distinct,
                distinct_share=col["distinct_share"],
            )
        )
    elif kind == SemanticType.CATEGORICAL and distinct > HIGH_CARDINALITY:
        out.append(
            _warning(
                WarningKind.HIGH_CARDINALITY,
                [name],
                f"{name!r} is categorical with {distinct} distinct values; one-hot encoding "
                "it would make many sparse columns",
                n_distinct=distinct,
                distinct_share=col["distinct_share"],
            )
        )
    out += _value_warnings(col)
    return out


def _value_warnings(col: dict[str, Any]) -> list[dict[str, Any]]:
    name, present, out = col["name"], col["n_present"], []
    numbers = col.get("n_numeric_like", 0)
    if present and numbers < present and numbers / present >= MOSTLY_NUMBERS:
        others = [v["value"] for v in col["top_values"] if not _is_number(v["value"])][:5]
        out.append(
            _warning(
                WarningKind.MIXED_TYPES,
                [name],
                f"{numbers / present:.0%} of the values of {name!r} are numbers but "
                f"{present - numbers} are not (e.g. {', '.join(map(repr, others)) or 'n/a'})",
                numeric_share=numbers / present,
                n_not_numbers=present - numbers,
                examples=others,
            )
        )
    if col.get("n_empty"):
        out.append(
            _warning(
                WarningKind.EMPTY_STRINGS,
                [name],
                f"{col['n_empty']} values of {name!r} are empty or blank text, "
                "probably missing values in disguise",
                n_empty=col["n_empty"],
                share=col["n_empty"] / present,
            )
        )
    if col.get("n_infinite"):
        out.append(
            _warning(
                WarningKind.INFINITE_VALUES,
                [name],
                f"{col['n_infinite']} values of {name!r} are infinite; they are left out of "
                "its statistics",
                n_infinite=col["n_infinite"],
            )
        )
    unparsed = col.get("datetime", {}).get("n_unparsed")
    if unparsed:
        out.append(
            _warning(
                WarningKind.UNPARSED_DATES,
                [name],
                f"{unparsed} values of {name!r} do not read as dates",
                n_unparsed=unparsed,
            )
        )
    skew = col.get("numeric", {}).get("skew")
    if col["semantic_type"] == SemanticType.NUMERIC and skew is not None and abs(skew) >= SKEW:
        side = "right" if skew > 0 else "left"
        out.append(
            _warning(
                WarningKind.SKEWED,
                [name],
                f"{name!r} is strongly {side}-skewed (skewness {skew:.1f}); a log or rank "
                "transform may help linear models",
                skew=skew,
                median=col["numeric"]["median"],
                mean=col["numeric"]["mean"],
                max=col["numeric"]["max"],
            )
        )
    return out


def _unwrap(evidence: str) -> str:
    """Evidence without its own parentheses, to sit inside a sentence's."""
    return evidence.replace(" (", ": ").replace(")", "")


def _is_number(value: Any) -> bool:
    try:
        float(str(value).strip())
    except ValueError:
        return False
    return True


def _duplicated_columns(frame: Frame, columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, col in enumerate(columns):
        if col["n_present"]:
            groups[(col["fingerprint"], col["n_missing"], col["n_distinct"])].append(i)
    out = []
    for members in groups.values():
        while len(members) > 1:
            first = frame.data.get_column(frame.raw(members[0]))
            same = [
                j
                for j in members[1:]
                if first.equals(frame.data.get_column(frame.raw(j)), check_names=False)
            ]
            if same:
                names = [columns[j]["name"] for j in (members[0], *same)]
                out.append(
                    _warning(
                        WarningKind.DUPLICATED_COLUMNS,
                        names,
                        f"{', '.join(map(repr, names))} hold exactly the same values; keep one",
                        n_columns=len(names),
                    )
                )
            members = [j for j in members[1:] if j not in same]
    return out


def _redundant_pairs(
    associations: dict[str, Any], seen: set[frozenset[str]], target: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One warning per group of columns that say nearly the same thing (linked pairs).

    Six pairs among four columns are one finding, not six.
    """
    target_name = target["column"] if target else None
    pairs = [
        p
        for p in _strong_pairs(associations)
        if target_name not in p["columns"]
        and not any(frozenset(p["columns"]) <= group for group in seen)
    ]
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for p in pairs:
        a, b = p["columns"]
        parent[root(a)] = root(b)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in pairs:
        groups[root(p["columns"][0])].append(p)
    order = {name: i for i, name in enumerate(associations.get("columns") or [])}
    out = []
    for members in groups.values():
        names = sorted({c for p in members for c in p["columns"]}, key=lambda c: order.get(c, 0))
        ranked = all(p["method"] == "spearman" for p in members)
        measure = "|r|" if ranked else "association"
        weakest = min(p["strength"] for p in members)
        listed = ", ".join(map(repr, names[:-1])) + f" and {names[-1]!r}"
        out.append(
            _warning(
                WarningKind.HIGHLY_CORRELATED,
                names,
                f"{listed} are highly correlated ({measure} ≥ {REDUNDANT:.2f}"
                + (f", as low as {weakest:.2f} between some" if len(names) > 2 else "")
                + f"); {'one of them' if len(names) > 2 else 'one'} may be enough",
                pairs=[
                    {"columns": p["columns"], "method": p["method"], "value": p["value"]}
                    for p in members
                ],
                method=members[0]["method"],
                value=max(p["strength"] for p in members),
                sample_rows=associations["sample_rows"],
            )
        )
    return out


def _strong_pairs(associations: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pair at or above ``REDUNDANT``: the top pairs, and the matrix past them."""
    pairs = [p for p in associations["top_pairs"] if p["strength"] >= REDUNDANT]
    known = {frozenset(p["columns"]) for p in pairs}
    names, matrix = associations.get("columns") or [], associations.get("matrix") or []
    kinds = dict(zip(names, associations.get("kinds") or [], strict=False))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            value = matrix[i][j] if i < len(matrix) and j < len(matrix[i]) else None
            b = names[j]
            if value is not None and value >= REDUNDANT and frozenset((a, b)) not in known:
                numeric = kinds.get(a) == kinds.get(b) == "numeric"
                method = "spearman" if numeric else "association"
                pairs.append(
                    {"columns": [a, b], "method": method, "value": value, "strength": value}
                )
    return pairs


def _target_warnings(target: dict[str, Any]) -> list[dict[str, Any]]:
    name, out = target["column"], []
    if target["task"] is None:
        return [
            _warning(
                WarningKind.UNUSABLE_TARGET,
                [name],
                f"{name!r} cannot be learned as a target: {target['reason']}",
                reason=target["reason"],
            )
        ]
    if target["n_missing"]:
        out.append(
            _warning(
                WarningKind.TARGET_MISSING,
                [name],
                f"the target {name!r} is missing in {target['n_missing']} rows; "
                "they cannot be used for training",
                n_missing=target["n_missing"],
            )
        )
    balance = target.get("class_balance")
    if balance and balance["imbalance_ratio"] >= IMBALANCE_RATIO:
        minority = balance["classes"][-1] if not balance["n_classes_not_listed"] else None
        which = f" ({minority['value']!r})" if minority else ""
        out.append(
            _warning(
                WarningKind.IMBALANCED_TARGET,
                [name],
                f"the target {name!r} is imbalanced: its rarest class{which} has "
                f"{balance['minority_share']:.1%} of the rows, its commonest "
                f"{balance['majority_share']:.1%}",
                imbalance_ratio=balance["imbalance_ratio"],
                minority_share=balance["minority_share"],
                majority_share=balance["majority_share"],
            )
        )
    for feature in target["features"]:
        warning = _leak(feature, name)
        if warning is not None:
            out.append(warning)
    return out


def _leak(feature: dict[str, Any], target: str) -> dict[str, Any] | None:
    """A leakage warning when the feature is the target relabelled or predicts it alone.

    Never for a feature that is merely strong: the best features of a good dataset carry
    much of the target's information, and a warning would have users drop them.
    """
    alone = feature.get("alone") or {}
    column, metric, score = feature["column"], alone.get("metric"), alone.get("score")
    evidence = {
        "metric": metric,
        "score": score,
        "threshold": LEAK_SCORES.get(metric or ""),
        "copy": bool(alone.get("copy")),
        "adjusted_information": feature["adjusted"],
    }
    if alone.get("copy") and alone.get("rank_correlation") is not None:
        message = (
            f"{column!r} is the target {target!r} rescaled (rank correlation "
            f"{alone['rank_correlation']:.3f}): a copy of the outcome does not exist when "
            "predicting; drop it"
        )
    elif alone.get("copy"):
        message = (
            f"{column!r} is the target {target!r} under other names: each of its values goes "
            f"with one value of {target!r} and back"
            + (
                f" (alone it predicts it with a cross-validated {LEAK_NAMES[metric]} {score:.3f})"
                if score is not None and metric in LEAK_NAMES
                else ""
            )
            + ". A copy of the outcome does not exist when predicting; drop it"
        )
    elif score is not None and metric in LEAK_SCORES and score >= LEAK_SCORES[metric]:
        message = (
            f"{column!r} alone predicts the target {target!r} almost perfectly "
            f"(cross-validated {LEAK_NAMES[metric]} {score:.3f} on its own): check that it is "
            "known before the outcome, or drop it"
        )
    else:
        return None
    return _warning(WarningKind.TARGET_LEAKAGE, [column, target], message, **evidence)
