"""The library's own exceptions; the CLI turns each into one line and an exit code.

Nothing here prints or exits: callers decide how to report (`printable` makes a message safe to print).
"""

import re


class GeneratorError(Exception):
    """A failure the user can act on; exit code 1."""

    exit_code = 1


class ConfigError(GeneratorError):
    """A bad setting, flag or config file; exit code 2."""

    exit_code = 2


class SourceError(GeneratorError):
    """The usage data could not be read completely."""


class IncompleteDataError(GeneratorError):
    """The data is readable but not trustworthy enough for the strictness asked for."""


class PublishError(GeneratorError):
    """The site could not be written or published."""


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Escape control and bidirectional-override characters (names come from logs) so a terminal shows them.

    Keeps newlines and tabs; an escape sequence in a hostile name is printed as `\\x1b`, never run.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)
