"""What the run does after the search, priced from the candidates' measured costs.

The budget a user gives is the wall clock they wait, so the search reserves time for its
own finish: the refit (see :meth:`Search.refit_seconds`) and, given a :class:`FinishPlan`
by the job, the evaluation on the test split (its predictions, permutation importance,
the learning curve's fits), writing the model file, the reference profile and the
registration. The more expensive the likely winners, the earlier the search stops: it
gives up candidates rather than the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlharbor.models.automl.folds import MINIATURE_SIZE, prep_key
from mlharbor.models.automl.portfolio import size_of

if TYPE_CHECKING:
    from mlharbor.models.automl.engine import Search
    from mlharbor.models.automl.leaderboard import Entry

#: Predictions of the whole test split in the finish: the holdout metrics (labels and
#: probabilities), the artifacts' curves (the same twice more) and the reference profile.
TEST_PREDICTIONS = 5
#: Seconds of the finish that no model's cost explains, besides drawing the plots
#: (:attr:`FinishPlan.plot_seconds`): the database, the reference profile's statistics.
FIXED_SECONDS = 0.5
#: Saving a model takes about this share of the storability check of its miniature
#: (which also loads it back and predicts), times how much larger the model is, up to
#: :data:`MAX_WRITE_SCALE` times (a file's fixed costs do not grow with its trees).
WRITE_SHARE = 0.2
MAX_WRITE_SCALE = 10.0


@dataclass
class FinishPlan:
    """The work after the search, in rows and calls; priced by :func:`finish_seconds`.

    Attributes
    ----------
    n_test : int
        Rows of the test split, predicted :data:`TEST_PREDICTIONS` times.
    n_columns : int
        Input columns, each permuted once per repeat of permutation importance.
    importance_rows, importance_repeats : int
        Rows and repeats of permutation importance, whose permuted copies are predicted
        in one call per repeat (see :func:`~mlharbor.models.automl.register.importance`).
    curve_rows : int
        Training rows of the learning curve: two folds, two sizes, so four fits of up to
        half of them and eight predictions.
    plot_seconds : float
        Drawing the artifacts: seconds on an idle machine, many on a busy one.
    """

    n_test: int = 0
    n_columns: int = 0
    importance_rows: int = 0
    importance_repeats: int = 0
    curve_rows: int = 0
    #: Seconds to draw the artifacts' plots (measured by the caller on this machine now).
    plot_seconds: float = 0.0


def predict_cost(search: Search, entry: Entry) -> tuple[float, float]:
    """(seconds per call, seconds per row) to predict with ``entry``'s served pipeline.

    Per call: its preprocessing's fixed cost (column by column, measured when it was
    fitted); per row: its fold models' prediction time plus the preprocessing's.
    """
    folds = search.folds
    members = entry.models
    n_val = max(1, len(folds.splits[0][1]))
    per_call = per_row = 0.0
    for member in members:
        key = prep_key(member.candidate.spec, bool(member.candidate.native))
        call = folds.call_seconds.get(key, max(folds.call_seconds.values(), default=0.0))
        per_call += call
        # Fitting the preprocessing also learns it (categories, vocabularies): transforming
        # costs about half, less the fixed cost of a call, counted apart.
        prep = 0.5 * max(0.0, folds.prep_seconds.get(key, 0.0) - call) / max(1, len(folds.X))
        model = float(np.mean(member.predict_seconds)) / n_val if member.predict_seconds else 0.0
        per_row += prep + model * (folds.n_folds if _bagged(search, member) else 1)
    return per_call, per_row


def write_seconds(search: Search, entry: Entry) -> float:
    """Predicted seconds to save ``entry``'s model: its miniature's check, scaled by size.

    The check's time is the least over the families checked: the first check in a
    process may also have paid for importing the registry's code.
    """
    if not search.check_seconds:
        return 0.0
    check = min(search.check_seconds.values())
    total = 0.0
    for member in entry.models:
        scale = min(MAX_WRITE_SCALE, max(1.0, size_of(member.candidate.params) / MINIATURE_SIZE))
        copies = search.folds.n_folds if _bagged(search, member) else 1
        # Writing a model is cheaper than fitting it (bar a few fixed costs): the bound
        # keeps a check slowed by a busy moment from pricing the file in minutes.
        fitting = float(np.mean(member.fit_seconds)) if member.fit_seconds else 0.0
        total += min(WRITE_SHARE * check * scale, 0.5 * fitting + 0.1) * copies
    return total


def finish_seconds(search: Search, entries: list[Entry], plan: FinishPlan | None) -> float:
    """Predicted seconds of the finish if the winner is among ``entries`` (priced as the
    ensemble of them all: the costlier case)."""
    if plan is None or not entries:
        return 0.0
    per_call = per_row = write = curve = 0.0
    for entry in entries:
        call, row = predict_cost(search, entry)
        per_call, per_row = per_call + call, per_row + row
        write += write_seconds(search, entry)
        # Four learning-curve fits of one model (not a bag) on up to half the curve's
        # rows: 0.3 and 1.0 of them.
        curve += 2 * (
            _fit(search, entry, plan.curve_rows // 2) + _fit(search, entry, plan.curve_rows // 7)
        )
    predictions = TEST_PREDICTIONS * (per_call + plan.n_test * per_row)
    stacked = plan.n_columns * plan.importance_rows
    importance = (plan.importance_repeats + 1) * per_call
    importance += plan.importance_repeats * stacked * per_row + plan.importance_rows * per_row
    curve += 8 * per_call + 4 * plan.curve_rows * per_row
    return FIXED_SECONDS + plan.plot_seconds + predictions + importance + curve + write


def _fit(search: Search, entry: Entry, n_rows: int) -> float:
    """Seconds to fit one model of ``entry`` (each member once) on ``n_rows`` rows."""
    n_fit = max(1, len(search.folds.splits[0][0]))
    growth = math.pow(n_rows / n_fit, 1.15)
    return sum(float(np.mean(m.fit_seconds)) * growth for m in entry.models if m.fit_seconds)


def _bagged(search: Search, entry: Entry) -> bool:
    from mlharbor.models.automl.result import bags

    return bags(entry, search.folds)
