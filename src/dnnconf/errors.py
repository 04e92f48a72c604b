"""The exceptions that reach the user, each with its exit code.

Exit codes follow the design: 0 success; 1 the work ran and found errors (a failed check, a diverged
run); 2 bad input (config, data, checkpoint, command-line arguments).
"""

from __future__ import annotations


class DnnconfError(Exception):
    """Base class: the message is one line meant for the user; `exit_code` is what the CLI returns."""

    exit_code = 1


class BadInput(DnnconfError):
    """Input that cannot be used: a config, a data file, a checkpoint, a run folder, an argument."""

    exit_code = 2


class ConfigError(BadInput):
    """A configuration that does not validate; the message names the key path and what is accepted."""


class DataError(BadInput):
    """Data that is missing, corrupt or does not fit; the message names the file or the value."""


class RunFolderError(BadInput):
    """A run folder that is missing, incomplete or fails to verify."""


class Diverged(DnnconfError):
    """Training produced a NaN or infinite loss or weights."""

    exit_code = 1
