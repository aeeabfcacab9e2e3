"""The library's own exceptions; the CLI turns each into one line and an exit code.

Nothing here prints or exits: callers decide how to report.
"""


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
