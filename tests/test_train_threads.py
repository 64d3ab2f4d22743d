"""Training jobs on small tables fit on one thread.

On a busy machine OpenMP's spinning threads made histogram gradient boosting on 200 rows
take 38 s instead of 0.6 s; below ``THREADED_MIN_ROWS`` a job gets one thread.
"""

from __future__ import annotations

import os

from mlharbor.workflows.train import THREADED_MIN_ROWS, job_threads


def test_small_tables_train_on_one_thread() -> None:
    assert job_threads(1, 200) == 1
    assert job_threads(2, THREADED_MIN_ROWS - 1) == 1


def test_large_tables_share_the_cores_between_workers() -> None:
    cores = os.cpu_count() or 1
    assert job_threads(1, THREADED_MIN_ROWS) == cores
    assert job_threads(2, 10 * THREADED_MIN_ROWS) == max(1, cores // 2)
    assert job_threads(cores * 4, 10 * THREADED_MIN_ROWS) == 1
