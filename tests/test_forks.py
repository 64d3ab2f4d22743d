"""fork_later: the items shared out over forked copies of the process, results in order."""

from __future__ import annotations

import os
import time

import pytest

from mlharbor.forks import fork_later


def test_a_child_that_dies_costs_time_not_the_result() -> None:
    parent = os.getpid()

    def fn(i: int) -> int:
        if os.getpid() != parent:
            os._exit(7)  # as if killed
        return i + 1

    assert fork_later(fn, list(range(5)), workers=2)() == [1, 2, 3, 4, 5]


def test_no_more_children_than_items() -> None:
    pending = fork_later(lambda i: i + 1, [1], workers=4)
    assert len(pending.pids) == 1
    assert pending() == [2]


def test_fork_later_fits_in_children_while_this_process_works_on(tmp_path) -> None:
    parent = os.getpid()

    def fn(i: int) -> tuple[int, int]:
        (tmp_path / str(i)).touch()
        return i * i, os.getpid()

    pending = fork_later(fn, list(range(7)), workers=2)
    while len(list(tmp_path.iterdir())) < 7:  # this process's own work meanwhile
        time.sleep(0.01)
    out = pending()
    assert [square for square, _ in out] == [i * i for i in range(7)]
    pids = {pid for _, pid in out}
    assert parent not in pids and 1 <= len(pids) <= 2  # every item done in a child
    assert pending() == out  # waited once; asking again gives the same results


def test_waiting_takes_the_items_no_child_has_started() -> None:
    parent = os.getpid()

    def fn(i: int) -> tuple[int, int]:
        time.sleep(0.2)
        return i, os.getpid()

    pending = fork_later(fn, list(range(6)), workers=1)
    out = pending()  # at once: the one child cannot have started them all
    assert [i for i, _ in out] == list(range(6))
    pids = [pid for _, pid in out]
    assert parent in pids and len(set(pids)) == 2  # shared between the child and here


def test_fork_later_raises_a_childs_error_when_waited_for() -> None:
    def fn(i: int) -> int:
        if i == 3:
            raise ValueError("item 3 is bad")
        return i

    pending = fork_later(fn, list(range(6)), workers=2)
    with pytest.raises(ValueError, match="item 3 is bad"):
        pending()


def test_fork_later_stop_ends_children_not_waited_for(tmp_path) -> None:
    done = tmp_path / "done"

    def slow(i: int) -> int:
        time.sleep(30)
        done.write_text("finished")
        return i

    pending = fork_later(slow, [1, 2], workers=2)
    pids = list(pending.pids)
    pending.stop()
    for pid in pids:  # reaped: no such child any more
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    assert not done.exists()


def test_fork_later_of_nothing_returns_nothing() -> None:
    assert fork_later(lambda i: i, [])() == []
