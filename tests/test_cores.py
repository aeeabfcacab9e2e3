"""Work on a second core: a fork makes every other item's output, in order, and its failures reach the build."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import cores
from generator.config import lambda_cores
from generator.errors import GeneratorError
from tests.test_scale import built, org


def made(n: int) -> Iterator[tuple[int, int]]:
    yield n, os.getpid()
    yield -n, os.getpid()


def test_every_item_comes_in_order_and_every_other_from_the_fork() -> None:
    found = list(cores.interleaved(range(40), made, 2))
    assert [n for n, _ in found] == [x for n in range(40) for x in (n, -n)]
    me = os.getpid()
    assert {pid == me for n, pid in found if n % 2 == 0} == {True}
    assert {pid == me for n, pid in found if n and n % 2} == {False}  # a fork made the odd ones


@pytest.mark.parametrize("count", [0, 1, cores.MIN_ITEMS - 1])
def test_few_items_are_made_here(count: int) -> None:
    assert {pid for _, pid in cores.interleaved(range(count), made, 2)} <= {os.getpid()}


def test_one_core_makes_everything_here() -> None:
    assert {pid for _, pid in cores.interleaved(range(40), made, 1)} == {os.getpid()}


def test_an_error_in_the_fork_is_raised_here_at_its_item() -> None:
    def make(n: int) -> Iterator[int]:
        if n == 7:
            raise ValueError("no page for 7")
        yield n

    seen: list[int] = []
    with pytest.raises(ValueError, match="no page for 7"):
        seen.extend(cores.interleaved(range(40), make, 2))
    assert seen == list(range(7))


def test_a_fork_that_dies_says_so() -> None:
    def make(n: int) -> Iterator[int]:
        if n == 9:
            os.kill(os.getpid(), signal.SIGKILL)
        yield n

    with pytest.raises(GeneratorError, match="second process making the site stopped \\(killed by SIGKILL\\)"):
        list(cores.interleaved(range(40), make, 2))


def test_the_fork_runs_none_of_this_process_cleanup_and_is_reaped(tmp_path: Path) -> None:
    """The fork exits at once: a `finally` of the caller (a staging folder's removal, say) runs here only, once; a
    caller that stops early leaves no process behind."""
    marks = tmp_path / "marks"

    def run(stop: int) -> None:
        try:
            for n, _ in cores.interleaved(range(40), made, 2):
                if n == stop:
                    break
        finally:
            with marks.open("a") as f:
                f.write(f"{os.getpid()}\n")

    children = Path(f"/proc/self/task/{os.getpid()}/children")  # a child not yet reaped is still listed
    before = children.read_text()
    run(stop=-39)  # to the end
    run(stop=3)  # stops early: the fork is killed and reaped
    assert marks.read_text().split() == [str(os.getpid())] * 2
    assert children.read_text() == before


@pytest.mark.parametrize(("memory", "most"), [("1024", 1), ("1769", 1), ("3538", 2), ("10240", 5), ("", 0), ("x", 0)])
def test_a_lambda_uses_the_cores_its_memory_buys(memory: str, most: int) -> None:
    assert lambda_cores(memory) == most
    assert cores.available(most) == min(most or 99, len(os.sched_getaffinity(0)))


def test_a_site_made_on_two_cores_is_the_one_made_on_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def available(most: int = 0) -> int:  # two cores, whatever this machine has, but a Lambda's bound
        calls.append(most)
        return most or 2

    monkeypatch.setattr(cores, "available", available)
    logs = org(tmp_path, 40, 3, 10)  # 40 people: their pages are made on two cores
    two = built(logs, tmp_path / "two", "1d,7d,30d,mtd")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")  # a 1,024 MB Lambda: one core's time
    one = built(logs, tmp_path / "one", "1d,7d,30d,mtd")
    assert calls[-1] == 1 and 1 not in calls[:-1]  # the Lambda's pages alone were bounded to one core
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(files) > 90 and files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert [f for f in files if (one / f).read_bytes() != (two / f).read_bytes()] == []
