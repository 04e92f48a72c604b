"""What the API's functions take: a config as a path, a run folder, a mapping or a `Config`; a run as its
folder or a `FitResult`; an optional path; `quiet`, which drops what a command would print."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnnconf.errors import BadInput, ConfigError, RunFolderError

if TYPE_CHECKING:
    from dnnconf.config import Config

# Every import of dnnconf's heavy parts is inside a function: `import dnnconf.api` must not import torch.


def as_config(config: Any, overrides: Sequence[str] = (), what: str = "config") -> Config:
    """A validated, resolved `Config` from a YAML path, a run folder, a mapping or a `Config`, with the
    `--set`-style `overrides` applied."""
    import yaml

    from dnnconf.config import Config, config_from_dict, dump_config, load_config
    from dnnconf.config.load import apply_override

    if isinstance(overrides, str):  # a lone "a.b=v" would be read letter by letter
        overrides = [overrides]
    if isinstance(config, str | Path):
        path = Path(config)
        if path.is_dir() and (path / "config.yaml").is_file():
            path = path / "config.yaml"  # a run folder: the resolved config it was trained with
        return load_config(path, list(overrides))
    if isinstance(config, Config) and not overrides:
        return config
    if isinstance(config, Config):
        raw, source = yaml.safe_load(dump_config(config)), config.name
    elif isinstance(config, dict):
        raw, source = yaml.safe_load(yaml.safe_dump(config)), ""  # a deep copy: overrides leave the caller's alone
    else:
        raise ConfigError(f"{what}: expected a YAML path, a run folder, a mapping or a Config "
                          f"(received {type(config).__name__})")
    for assignment in overrides:
        apply_override(raw, assignment)
    return config_from_dict(raw, source)


def run_folder(run: Any, what: str = "run") -> Path:
    """The folder of a trained run: a path (`str` or `Path`) or a result with a `folder`."""
    folder = getattr(run, "folder", run)
    if not isinstance(folder, str | Path):
        raise RunFolderError(f"{what}: expected a run folder (a path) or the result of dnnconf.fit "
                             f"(received {type(run).__name__})")
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: no such run folder")
    return folder


def optional_path(value: Any, what: str) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    raise BadInput(f"{what}: expected a path (received {type(value).__name__})")


@contextlib.contextmanager
def silenced(quiet: bool) -> Iterator[None]:
    """With `quiet`, what the command would print (per-epoch lines, tables) is dropped."""
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def silent(*_: Any, **__: Any) -> None:
    return None
