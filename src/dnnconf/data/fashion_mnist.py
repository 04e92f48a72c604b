"""Fashion-MNIST: find the four IDX files, or download them once, and cache the arrays for speed.

Places searched, first match wins (a place must hold all four files, `X-ubyte.gz` or raw `X-ubyte`):
`data.path` (which must then hold them), `$DNNCONF_DATA` (or its `fashion_mnist` subfolder), the cache
folder, then `SYSTEM_DIRS` (the Debian package `dataset-fashion-mnist`). The cache folder is
`$DNNCONF_CACHE/fashion_mnist`, by default `~/.cache/dnnconf/fashion_mnist`; downloads go there, and so
does a `.npz` copy of the decoded arrays, keyed by the source files' paths, sizes and modification
times, which loads several times faster than decompressing the IDX files again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from dnnconf.data.files import read_npz
from dnnconf.data.idx import read_idx
from dnnconf.data.sources import Raw
from dnnconf.errors import DataError

URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MD5 = {  # published checksums of the .gz files
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SYSTEM_DIRS = [Path("/usr/share/datasets/fashion-mnist")]  # a list so tests can leave the system copy out


def cache_dir() -> Path:
    """Where downloads and the decoded-array cache go: `$DNNCONF_CACHE/fashion_mnist` or `~/.cache/...`."""
    root = os.environ.get("DNNCONF_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "dnnconf") / "fashion_mnist"


def search_dirs(path: str | Path | None = None) -> list[Path]:
    """The folders searched for the IDX files, in order."""
    dirs = [Path(path).expanduser()] if path else []
    if os.environ.get("DNNCONF_DATA"):
        data = Path(os.environ["DNNCONF_DATA"]).expanduser()
        dirs += [data, data / "fashion_mnist"]
    return dirs + [cache_dir(), *SYSTEM_DIRS]


def find_files(folder: Path) -> dict[str, Path] | None:
    """The four files in `folder` (gzip preferred, raw accepted), or None unless all four are there."""
    found = {}
    for key, stem in FILES.items():
        candidates = [folder / f"{stem}.gz", folder / stem]
        found[key] = next((file for file in candidates if file.is_file()), None)
    return found if all(found.values()) else None


def locate(path: str | Path | None = None) -> dict[str, Path]:
    """The four files from the first place that holds them all; downloads them when none does."""
    if path and not find_files(Path(path).expanduser()):
        missing = ", ".join(f"{stem}.gz" for stem in FILES.values())
        raise DataError(f"data.path: {path} does not hold the four Fashion-MNIST files ({missing}, or the "
                        "same names without .gz)")
    dirs = search_dirs(path)
    for folder in dirs:
        if files := find_files(folder):
            return files
    try:
        download(cache_dir())
    except (OSError, http.client.HTTPException) as error:
        searched = ", ".join(str(folder) for folder in dirs)
        raise DataError(
            f"fashion_mnist: the IDX files are not in any of {searched}, and the download from {URL} failed "
            f"({error}); put the four files (train-images-idx3-ubyte.gz, ...) in one of those folders, set "
            "data.path or $DNNCONF_DATA, or run `apt-get install dataset-fashion-mnist`"
        ) from None
    return find_files(cache_dir()) or {}


def download(dest: Path) -> None:
    """Download the four .gz files into `dest`, checking their MD5; a bad download is removed."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, md5 in MD5.items():
        target = dest / name
        if target.is_file():
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(URL + name, timeout=60) as response:
                digest = _copy_with_progress(response, out, name)
            if digest != md5:
                raise DataError(
                    f"{URL}{name}: checksum mismatch (MD5 {digest}, expected {md5}); the download "
                    "was removed, try again"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def _copy_with_progress(response, out, name: str) -> str:
    """Copy the response to `out` with a one-line progress report on stderr; return the MD5 hex digest."""
    total = int(response.headers.get("Content-Length") or 0)
    md5, done = hashlib.md5(), 0
    while chunk := response.read(1 << 16):
        out.write(chunk)
        md5.update(chunk)
        done += len(chunk)
        of_total = f" of {total / 1e6:.1f}" if total else ""
        print(f"\rdownloading {name}: {done / 1e6:.1f}{of_total} MB", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return md5.hexdigest()


def load_fashion_mnist(path: str | Path | None = None) -> Raw:
    """The 60000 training and 10000 test images (uint8, N x 28 x 28) with their labels 0..9."""
    files = locate(path)
    cached = _cache_file(files)
    arrays = _read_cache(cached)
    if arrays is None:
        arrays = {key: read_idx(file) for key, file in files.items()}
        for split in ("train", "test"):
            _check_shapes(files, arrays, split)
        _write_cache(cached, arrays)
    return Raw(
        "fashion_mnist",
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        class_names=list(CLASS_NAMES),
    )


def _check_shapes(files: dict[str, Path], arrays: dict[str, np.ndarray], split: str) -> None:
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise DataError(
            f"{files[f'x_{split}']}: expected uint8 images of shape (N, 28, 28), got {x.dtype} {x.shape}"
        )
    if y.ndim != 1 or y.dtype != np.uint8:
        raise DataError(
            f"{files[f'y_{split}']}: expected uint8 labels of shape (N,), got {y.dtype} {y.shape}"
        )
    if len(x) != len(y):
        raise DataError(
            f"{files[f'y_{split}']}: {len(y)} labels for {len(x)} images in {files[f'x_{split}']}"
        )


def _cache_file(files: dict[str, Path]) -> Path:
    """The cache file for these exact source files: any change to them gives another name."""
    key = hashlib.sha256()
    for file in files.values():
        stat = file.stat()
        key.update(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return cache_dir() / f"cache-{key.hexdigest()[:16]}.npz"


def _read_cache(cached: Path) -> dict[str, np.ndarray] | None:
    if not cached.is_file():
        return None
    try:  # bounded like any .npz: a cache file replaced by something huge is refused, not inflated
        arrays = read_npz(str(cached), cached, list(FILES))
        return arrays if set(arrays) == set(FILES) else None
    except Exception:  # a damaged cache is only a missed speed-up: read the IDX files again
        return None


def _write_cache(cached: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cache-", suffix=".npz", dir=cached.parent)
    except OSError:  # a read-only home only costs speed
        return
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, cached)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
