"""Work on a second core: how many cores a build may use, and a forked process that makes every other item's output.

A low helper. People's pages are made by a fork of the build (`interleaved`): it reads the views and templates
this process already holds, shared copy-on-write (the build runs with the cycle collector off, so nothing walks
those objects; but each object read has its count written, which copies its page), and sends back bytes. This
process keeps every item in order and does all the writing, so the site is written, hashed and listed in one place.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from generator.errors import GeneratorError

T = TypeVar("T")
R = TypeVar("R")

PIPE_BYTES = 1 << 20  # the pipe from the fork (Linux's unprivileged most): the fork runs ahead by a few items
MIN_ITEMS = 16  # fewer are made in this process: a fork costs more than it saves


def available(most: int = 0) -> int:
    """The cores this process may run on, at most `most` (0: no bound)."""
    found = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(found, most) if most > 0 else found


def interleaved(items: Sequence[T], make: Callable[[T], Iterable[R]], cores: int) -> Iterator[R]:
    """What `make` gives for each item, in item order: with two `cores` or more, a fork of this process makes the odd
    items' while this one makes the even items'. All in this process with one core, no fork, or few items.

    `make` must not write anything that outlives it: the fork's writes are its own (its memory, copied on write).
    An error in the fork is raised here, at its item; a fork that dies says so."""
    if len(items) < MIN_ITEMS or cores < 2 or not hasattr(os, "fork"):
        for item in items:
            yield from make(item)
        return
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError, AttributeError):  # a smaller pipe only makes the fork wait more
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    pid = os.fork()
    if pid == 0:  # the fork
        os.close(read_end)
        _serve(items[1::2], make, write_end)  # never returns
    os.close(write_end)
    finished = False
    try:
        with open(read_end, "rb") as pipe:
            for index, item in enumerate(items):
                if index % 2 == 0:
                    yield from make(item)
                    continue
                try:
                    made = pickle.load(pipe)
                except (EOFError, pickle.UnpicklingError):
                    made = None  # it stopped, mid-item perhaps
                if isinstance(made, BaseException):
                    raise made
                if not isinstance(made, list):
                    raise GeneratorError(f"the second process making the site stopped ({_ended(pid)}); build again")
                yield from made
        finished = True
    finally:
        if not finished:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _serve(items: Sequence[T], make: Callable[[T], Iterable[R]], write_end: int) -> None:
    """In the fork: send each item's output as one pickled list, or the error that stopped it; then exit at once
    (`os._exit`: the parent's cleanup, its staging folder's removal say, is the parent's to run)."""
    code = 0
    try:
        with open(write_end, "wb") as pipe:
            try:
                for item in items:
                    pickle.dump(list(make(item)), pipe, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # the parent raises it at this item
                code = 1
                try:
                    pickle.dump(exc, pipe, pickle.HIGHEST_PROTOCOL)
                except Exception:
                    pickle.dump(GeneratorError(f"making the site failed: {exc!r}"), pipe, pickle.HIGHEST_PROTOCOL)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _ended(pid: int) -> str:
    """How the fork ended, in words."""
    try:
        _, status = os.waitpid(pid, 0)  # its pipe is closed: it is ending
    except ChildProcessError:
        return "gone"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
