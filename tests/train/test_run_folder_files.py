"""Every file read back from a run folder is checked: empty, binary, the wrong JSON shape, a missing key,
a wrong type, a stray folder, a changed callback set: one line naming the file, exit 2."""

import json

import pytest

from dnnconf.cli import main
from dnnconf.run import train
from dnnconf.train import checkpoint
from dnnconf.train.checkpoint import latest_checkpoint


@pytest.fixture(scope="module")
def stopped_midway(tmp_path_factory):
    """A run that has epochs to go (2 of 3 done), as a template each test copies."""
    from dnnconf.config import config_from_dict

    folder = tmp_path_factory.mktemp("template")
    raw = {"name": "files", "data": {"dataset": "digits", "valid_size": 0.15}, "model": {"hidden": [8]},
           "schedule": {"name": "constant"}, "training": {"epochs": 2, "batch_size": 128}}
    train(config_from_dict(raw), folder / "run", quiet=True)
    raw["training"]["epochs"] = 3
    (folder / "more.yaml").write_text(json.dumps(raw))  # YAML reads JSON: the same run, one epoch more
    return folder


@pytest.fixture
def run(stopped_midway, tmp_path):
    import shutil

    shutil.copytree(stopped_midway / "run", tmp_path / "run")
    return tmp_path / "run"


def resume(run, capsys, *extra):
    code = main(["train", str(run / "cfg.yaml"), "--resume", str(run), "--quiet", "--force", *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def seal(path):
    """Rewrite the manifest so a crafted file passes its checksum (an attacker can do that too)."""
    manifest = {name: checkpoint._sha256(path / name) for name in checkpoint.FILES}
    (path / "manifest.json").write_text(json.dumps(manifest))


def damage(run, target, content):
    if target == "config.yaml":
        (run / "config.yaml").write_bytes(content)
        return run / "config.yaml"
    if target == "LATEST":
        (run / "checkpoint" / "LATEST").write_bytes(content)
        return run / "checkpoint" / "LATEST"
    path = latest_checkpoint(run / "checkpoint")
    (path / target).write_bytes(content)
    if target == "state.json":
        seal(path)
    return path / target


STATE = {"epoch": 2, "step": 24, "history": [], "rng": {"python": [3, [], None], "numpy": [0, [], 0, 0, 0]},
         "listeners": []}
CASES = {
    "config-empty": ("config.yaml", b""),
    "config-binary": ("config.yaml", b"\x00\x01\xff\xfe"),
    "config-list": ("config.yaml", b"- 1\n- 2\n"),
    "config-deep": ("config.yaml", b"[" * 100_000),
    "latest-empty": ("LATEST", b""),
    "latest-binary": ("LATEST", b"\xff\xfe\x00"),
    "latest-outside": ("LATEST", b"../../elsewhere\n"),
    "manifest-list": ("manifest.json", b"[1, 2]"),
    "manifest-empty": ("manifest.json", b""),
    "manifest-missing-keys": ("manifest.json", b'{"model.safetensors": "00"}'),
    "state-list": ("state.json", b"[]"),
    "state-binary": ("state.json", b"\x00\xff"),
    "state-missing-key": ("state.json", json.dumps({k: v for k, v in STATE.items() if k != "step"}).encode()),
    "state-wrong-type": ("state.json", json.dumps({**STATE, "epoch": "two"}).encode()),
    "state-bad-history": ("state.json", json.dumps({**STATE, "history": [1, 2]}).encode()),
    "state-bad-rng": ("state.json", json.dumps({**STATE, "rng": {"python": [], "numpy": []}}).encode()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_run_folder_file_is_one_line_naming_it(run, capsys, stopped_midway, case):
    (run / "cfg.yaml").write_text((stopped_midway / "more.yaml").read_text())
    target, content = CASES[case]
    path = damage(run, target, content)
    code, lines = resume(run, capsys)
    assert code == 2 and len(lines) == 1, lines
    named = path.name if target != "LATEST" else "LATEST"
    assert named in lines[0] or (target == "config.yaml" and "config.yaml" in lines[0]), lines[0]


def test_a_stray_folder_in_checkpoint_is_not_a_checkpoint(run, capsys, stopped_midway):
    (run / "cfg.yaml").write_text((stopped_midway / "more.yaml").read_text())
    (run / "checkpoint" / "step-junk").mkdir()
    (run / "checkpoint" / "notes").mkdir()
    code, lines = resume(run, capsys)
    assert code == 0, lines
    assert (run / "checkpoint" / "step-junk").is_dir()  # not ours: left alone


def test_latest_through_a_link_to_a_folder_outside_is_refused(run, capsys, stopped_midway, tmp_path):
    (run / "cfg.yaml").write_text((stopped_midway / "more.yaml").read_text())
    good = latest_checkpoint(run / "checkpoint")
    outside = tmp_path / "outside"
    good.rename(outside)
    good.symlink_to(outside)
    code, lines = resume(run, capsys)
    assert code == 2 and len(lines) == 1 and "outside the run folder" in lines[0], lines


@pytest.mark.parametrize("change", ["training.early_stopping=null",
                                    "schedule={name: performance, factor: 0.5, patience: 1}"])
def test_resume_force_after_adding_early_stopping_or_a_performance_schedule(run, capsys, stopped_midway, change):
    (run / "cfg.yaml").write_text((stopped_midway / "more.yaml").read_text())
    code, lines = resume(run, capsys, "--set", change)
    assert code == 2 and len(lines) == 1 and "state.json" in lines[0] and "cannot be added" in lines[0], lines


def test_a_transfer_source_with_a_broken_normalization_is_one_line(run, capsys, tmp_path):
    # a run of an older version: its weights lack the input layer, which normalization.json then supplies
    from safetensors.torch import load_file, save_file

    weights = load_file(str(run / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if not k.startswith("normalization.")}, str(run / "model.safetensors"))
    (run / "normalization.json").write_text('{"method": "standardize", "mean": [1, 2], "std": "x"}')
    config = tmp_path / "transfer.yaml"
    config.write_text(f"""
name: t
data: {{dataset: digits, valid_size: 0.15}}
model: {{hidden: [8]}}
transfer: {{from: {run}, freeze_epochs: 1}}
training: {{epochs: 1}}
""")
    code = main(["train", str(config), "--out", str(tmp_path / "t"), "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "normalization.json" in lines[0], lines
