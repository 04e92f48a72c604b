"""A study folder's study.json: the profile that fixes what its runs mean, and a record of every invocation.

`{"epochs", "dataset", "train_size"}` is the profile: a second invocation with another is refused (its
runs would not be comparable). Since the paired-interval release study.json also holds `study` (the
study's name), `quick`, `parameters` (the study's own options, e.g. selu-deep's depth) and
`invocations`: one entry per `dnnconf study NAME` call, appended when it starts and completed when it
ends, with the equivalent command line, start and end time (UTC), seconds, runs trained and read back,
jobs/threads, and the machine (CPU count, platform, Python, torch and dnnconf versions). With
`--reference keras` the invocation also holds `reference`: the Keras part's start and end, seconds, Keras
runs trained and read back, jobs, and the variants Keras cannot express with the reason
(`record_reference`). Studies of their own kind (transfer, pretraining) record their invocations here too,
with a profile of their own keys (`check_profile` compares the keys it is given). `dnnconf study report`
reads it; folders written before it have only the profile, and the report says what is missing.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

STUDY_FILE = "study.json"
PROFILE_KEYS = ("epochs", "dataset", "train_size")


def read_metadata(folder: Path) -> dict[str, Any]:
    """The folder's study.json ({} when there is none); a file that is not a JSON object is a RunFolderError."""
    from dnnconf.errors import RunFolderError

    path = folder / STUDY_FILE
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(saved, dict):
        raise RunFolderError(f"{path}: expected a JSON object with epochs, dataset and train_size")
    return saved


def check_profile(folder: Path, profile: dict[str, Any]) -> dict[str, Any]:
    """The folder's metadata; refuses (ConfigError, exit 2) a folder that holds runs of another profile: one
    whose values of `profile`'s keys (the framework's PROFILE_KEYS, or a study's own) differ."""
    from dnnconf.errors import ConfigError

    saved = read_metadata(folder)
    held = {key: saved[key] for key in profile if key in saved}
    if saved and held != profile:
        raise ConfigError(f"--out {folder}: holds a study run with {held}, not {profile}; choose another --out")
    return saved


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def machine() -> dict[str, Any]:
    """What the report says of where the runs ran (no host name: the page is public)."""
    import torch

    from dnnconf import __version__

    return {"cpus": os.cpu_count(), "platform": platform.platform(terse=True), "python": platform.python_version(),
            "torch": torch.__version__, "dnnconf": __version__}


def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    from dnnconf.safe_write import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / STUDY_FILE, json.dumps(metadata, indent=1) + "\n")


def start_invocation(folder: Path, profile: dict[str, Any], header: dict[str, Any],
                     invocation: dict[str, Any]) -> dict[str, Any]:
    """Check the profile, then record that an invocation started; returns the metadata to finish with."""
    saved = check_profile(folder, profile)
    metadata = {**profile, **header, "invocations": [*saved.get("invocations", []),
                                                     {**invocation, "started": now(), "finished": None,
                                                      "machine": machine()}]}
    write_metadata(folder, metadata)
    return metadata


def finish_invocation(folder: Path, metadata: dict[str, Any], seconds: float, trained: int) -> None:
    last = metadata["invocations"][-1]
    last.update({"finished": now(), "seconds": round(seconds, 1), "trained": trained})
    write_metadata(folder, metadata)


def record_reference(folder: Path, metadata: dict[str, Any], record: dict[str, Any]) -> None:
    """Merge `record` into the last invocation's `reference` (the Keras part, run after the dnnconf runs:
    written when it starts, with `finished` None, and again when it ends)."""
    last = metadata["invocations"][-1]
    last["reference"] = {**last.get("reference", {}), **record}
    write_metadata(folder, metadata)
