"""The exceptions that reach the user, each with its exit code.

Exit codes follow the design: 0 success; 1 the work ran and found errors (a failed check, a diverged
run); 2 bad input (config, data, checkpoint, command-line arguments).
"""

from __future__ import annotations


class DnnconfError(Exception):
    """Base class: the message is one line meant for the user; `exit_code` is what the CLI returns.

    Line breaks inside the message (a key or value quoted from the input may hold one) are written as
    \\n, so the message stays one line."""

    exit_code = 1

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (args[0].replace("\r", "\\r").replace("\n", "\\n"),)
        super().__init__(*args)


class BadInput(DnnconfError):
    """Input that cannot be used: a config, a data file, a checkpoint, a run folder, an argument."""

    exit_code = 2


class ConfigError(BadInput):
    """A configuration that does not validate; the message names the key path and what is accepted."""


class NotBatchable(ConfigError):
    """A config that `training.parallel_seeds` cannot train as one batched computation exactly (a layer
    without a batched form, transfer, mid-epoch checkpoints, …); its seeds can still train one by one."""


class DataError(BadInput):
    """Data that is missing, corrupt or does not fit; the message names the file or the value."""


class RunFolderError(BadInput):
    """A run folder that is missing, incomplete or fails to verify."""


class Diverged(DnnconfError):
    """Training produced a NaN or infinite loss or weights."""

    exit_code = 1
