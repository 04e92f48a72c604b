"""Which keys two plain configs disagree on (`--resume` of a changed config, `dnnconf compare`)."""

from __future__ import annotations

from typing import Any


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Key paths whose values differ between two plain configs."""
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for key in keys:
        path = f"{prefix}{key}"
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_differences(va, vb, path + ".")
        elif va != vb:
            out.append(path)
    return out
