"""A run folder's name (`runs/<name>-<YYYYmmdd-HHMMSS>`) and making it ready to write into."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dnnconf.config import Config
from dnnconf.errors import RunFolderError


def timestamped_folder(name: str, root: Path = Path("runs")) -> Path:
    """`root/<name>-<YYYYmmdd-HHMMSS>`, with `-2`, `-3`, … added when that folder exists already."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = root / f"{name}-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = root / f"{name}-{stamp}-{suffix}"
    return folder


def default_folder(config: Config, root: Path = Path("runs")) -> Path:
    return timestamped_folder(config.name, root)


def prepare_folder(folder: Path, force: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder}: exists and is not a folder")
    if folder.exists() and any(folder.iterdir()) and not force:
        unfinished = (folder / "config.yaml").is_file() and not (folder / "metrics.json").is_file()
        hint = (f" (a run that did not finish: `dnnconf train {folder / 'config.yaml'} --resume {folder}` continues "
                f"it)" if unfinished else "")
        raise RunFolderError(f"--out {folder}: already holds files{hint}; choose another folder or pass --force")
    try:
        (folder / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"--out {folder}: cannot create the run folder ({error.strerror})") from None
    return folder
