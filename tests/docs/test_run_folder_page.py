"""The run-folder page lists exactly what a run folder holds, in both languages."""

import re

from docs_blocks import DOCS

from dnnconf.config import config_from_dict
from dnnconf.run import train


def _documented(page: str) -> set[str]:
    text = (DOCS / "reference" / page).read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([\w./-]+)` \|", text, re.M))


def test_the_page_lists_every_file_of_a_run_folder_and_no_other(tmp_path):
    config = config_from_dict({"name": "run-folder-page", "data": {"dataset": "digits", "valid_size": 0.15},
                               "model": {"hidden": [16]}, "training": {"epochs": 1}})
    train(config, tmp_path / "run", quiet=True, log=lambda *args, **kwargs: None)
    made = {p.name + ("/" if p.is_dir() else "") for p in (tmp_path / "run").iterdir()}
    assert _documented("run-folder.md") == made
    assert _documented("run-folder.zh.md") == made
