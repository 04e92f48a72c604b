"""What both HTML pages share: the vendored charting library, the page skeleton, the data island, and
the atomic write.

A page is one file that opens from disk with no server and no network: uPlot (MIT, vendored minified
in `vendor/`, ~51 KB) and the page's own script and style are inlined, and the data is a JSON island
(`<script type="application/json">`) the script draws from. Why uPlot: it is small enough to inline in
every run folder (Plotly's bundle is ~3.5 MB) and draws thousands of points fast, with zoom (drag) and
hover values in its legend.
"""

from __future__ import annotations

import functools
import html
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from dnnconf.report.strings import STRINGS
from dnnconf.safe_write import write_atomic

REFRESH_SECONDS = 5  # how often a page of a run still training reloads itself


@functools.cache
def asset(name: str) -> str:
    """A file shipped with the package (vendor/uPlot.iife.min.js, page.js, …), read once."""
    return resources.files("dnnconf.report").joinpath(name).read_text(encoding="utf-8")


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null (a gap in a curve)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def data_island(payload: dict[str, Any]) -> str:
    """The payload as JSON that is safe inside a <script> element (no `</script>` can end it early)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render(payload: dict[str, Any], title: str, lang: str) -> str:
    """The whole page: head with the inlined library and style, a body the script fills from the payload."""
    payload = {**payload, "strings": STRINGS, "lang": lang}
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{asset('vendor/uPlot.min.css')}\n{asset('page.css')}</style>\n"
        f"<script>{asset('vendor/uPlot.iife.min.js')}</script>\n"
        f"</head>\n<body>\n<main id=\"page\"></main>\n"
        f'<script id="dnnconf-data" type="application/json">{data_island(payload)}</script>\n'
        f"<script>{asset('page.js')}</script>\n</body>\n</html>\n"
    )


def write_page(path: Path, text: str) -> None:
    """Replace `path` whole (dnnconf.safe_write: an exclusive temporary renamed over it), so a browser
    reloading mid-write sees the old page or the new one, never half of one; a full disk is one line naming
    the page. No fsync: the page is rewritten every epoch and rebuilt from the run's files if lost."""
    write_atomic(path, text, durable=False)


def positive_spread(values: list[Any]) -> bool:
    """Whether a curve reads better on a log axis: all positive and spanning more than 20×."""
    present = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return bool(present) and min(present) > 0 and max(present) / min(present) > 20
