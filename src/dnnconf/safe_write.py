"""Every file dnnconf writes goes through here: whole or not at all, never through a planted link, and a
failure (a full disk, a read-only folder) is one line naming the file.

`write_atomic(path, data)`: the bytes go to a temporary file in the same folder, created exclusively
(`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0644) under a name never used before (`.<name>.<pid>.<random>.tmp`),
are flushed (and fsynced unless `durable=False`), and the temporary is renamed over `path`. The rename
replaces a link at `path` itself, never the file it points to; a name someone planted (`metrics.json.tmp`
as a link to ~/.bashrc) is never opened, because the temporary's name cannot be guessed and `O_EXCL`
refuses any existing name. Readers see the old file or the new one whole, also after a SIGKILL.

A failure raises `RunFolderError` (exit 2, like every other unusable output folder), names the file and
says when the disk is full; the temporary is removed and the previous file, if any, is left as it was.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
from pathlib import Path
from typing import Any

from dnnconf.errors import RunFolderError

_os_write = os.write  # the one call that puts bytes on disk (tests make it fail as a full disk does)
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def temporary_name(path: Path) -> Path:
    """A fresh hidden name beside `path` that nobody can predict."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


class WriteFailed(RunFolderError):
    """A file could not be written; `why` is the reason in words (a full disk said so plainly)."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path}: cannot write ({why}); files written before are intact")
        self.path, self.why = path, why


def reason(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: no space left on device"
    return error.strerror or str(error)


def cannot_write(path: Path, error: OSError) -> WriteFailed:
    """The one line for a failed write: the file, and why."""
    return WriteFailed(path, reason(error))


def write_atomic(path: Path, data: bytes | str, durable: bool = True) -> None:
    """Write `data` to `path` through an exclusive temporary and a rename (see the module docstring).

    `durable=False` skips the fsync: still whole for readers and across a killed process, but an OS crash
    may lose it (for files the checkpoint also holds, rewritten every epoch: an fsync can stall for tens of
    milliseconds on these disks)."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    tmp = temporary_name(path)
    try:
        fd = os.open(tmp, _FLAGS, 0o644)
        try:
            view = memoryview(payload)
            while view:
                written = _os_write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise cannot_write(path, error) from None


def tensors_bytes(tensors: dict[str, Any]) -> bytes:
    """A safetensors file's bytes (CPU, contiguous copies): written with `write_atomic`, never `save_file`,
    whose own error on a full disk is not an OSError and whose target may be a link."""
    from safetensors.torch import save  # lazy: it imports torch; the text and figure writers must not

    return save({key: value.detach().cpu().contiguous() for key, value in tensors.items()})


def write_tensors(path: Path, tensors: dict[str, Any], durable: bool = True) -> None:
    write_atomic(path, tensors_bytes(tensors), durable)


def write_figure(figure: Any, path: Path, dpi: int) -> None:
    """A matplotlib figure (PNG, or the format `path`'s suffix names), rendered in memory and written like
    any file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    write_atomic(path, buffer.getvalue(), durable=False)
