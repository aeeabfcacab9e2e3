"""Stage logs: one line per pipeline stage saying how long it took and how much it handled.

Owns the `generator` logger's set-up: quiet on a terminal unless asked (`--verbose`), on in the
Lambda, where each line lands in CloudWatch. Stages only say what they did; they never print.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("generator")


class Stage:
    """What one stage reports about itself: counts by name (rows, records, files, bytes ...)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.facts: dict[str, int] = {}

    def note(self, **facts: int) -> None:
        """Record how much the stage read or made."""
        self.facts.update(facts)

    def line(self, seconds: float) -> str:
        said = ", ".join(f"{value:,} {name}" for name, value in self.facts.items())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
        return f"stage {self.name}: {seconds:.2f} s" + (f", {said}" if said else "") + f"; peak RSS {peak} MB"


@contextmanager
def stage(name: str) -> Iterator[Stage]:
    """Time the block as the stage `name` and log one line when it ends (a failed stage says so)."""
    current = Stage(name)
    start = time.perf_counter()
    try:
        yield current
    except BaseException:
        log.info("%s (failed)", current.line(time.perf_counter() - start))
        raise
    log.info("%s", current.line(time.perf_counter() - start))


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever `sys.stderr` is when a line is logged (click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure(verbose: int = 0, always: bool = False) -> None:
    """Show stage lines with `verbose` (and debug detail with 2) or `always` (the Lambda); else warnings only.

    On a terminal the lines go to stderr; in the Lambda to the runtime's own handler, which sends them to
    CloudWatch (a handler of ours as well would write each line twice).
    """
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose or always else logging.WARNING
    log.setLevel(level)
    ours = [h for h in log.handlers if isinstance(h, _Stderr)]
    use_root = always and bool(logging.getLogger().handlers)
    log.propagate = use_root
    if use_root:
        for handler in ours:
            log.removeHandler(handler)
    elif not ours:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
