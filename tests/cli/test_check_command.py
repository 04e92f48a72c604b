"""The `check` and `recommend` commands through their `add_command` on a small parser (as `dnnconf.cli` wires them)."""

import json
import sys

import pytest

from dnnconf.arguments import Parser
from dnnconf.cli import check, recommend
from dnnconf.errors import DnnconfError


def dnnconf(capsys, *argv):
    """Run `dnnconf ARGV` as `dnnconf.cli.app` does: (exit code, stdout, stderr)."""
    parser = Parser(prog="dnnconf")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    check.add_command(commands)
    recommend.add_command(commands)
    try:
        args = parser.parse_args([str(arg) for arg in argv])
        code = args.handler(args)
    except DnnconfError as error:
        print(f"dnnconf {argv[0]}: {error}", file=sys.stderr)
        code = error.exit_code
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def english(monkeypatch):
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


CLEAN = "data: {dataset: digits, valid_size: 0.15}\nmodel: {hidden: [32, 16]}\n"
WARNING = CLEAN + "optimizer: {clipvalue: 1.0}\n"
ERROR = ("data: {dataset: digits, valid_size: 0.15, normalize_axis: feature}\n"
         "model: {hidden: [32], activation: selu, kernel_initializer: lecun_normal, batch_norm: before_activation}\n")


def test_exit_codes(tmp_path, capsys):
    code, out, _ = dnnconf(capsys, "check", write(tmp_path, CLEAN))
    assert code == 0 and "no findings" in out
    code, out, _ = dnnconf(capsys, "check", write(tmp_path, WARNING))
    assert code == 0 and "DNC130" in out and "optimizer.clipvalue" in out and "fix: use clipnorm: 1" in out
    code, out, _ = dnnconf(capsys, "check", write(tmp_path, ERROR))
    assert code == 1 and "DNC110" in out and out.splitlines()[0].endswith("1 error(s), 0 warning(s), 0 info")


@pytest.mark.parametrize("text, fragment", [
    (None, "no such config file"),
    ("model: {hidden: [32\n", "malformed YAML"),
    ("model: {hiden: [32]}\n", "model.hiden: unknown key"),
    ("model: {activation: rellu}\n", "rellu"),
])
def test_unreadable_config_is_one_line_and_exit_2(tmp_path, capsys, text, fragment):
    path = tmp_path / "missing.yaml" if text is None else write(tmp_path, text)
    code, out, err = dnnconf(capsys, "check", path, "--format", "json")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("dnnconf check: ")


def test_json_schema(tmp_path, capsys):
    path = write(tmp_path, ERROR + "optimizer: {clipvalue: 1.0}\n")
    code, out, _ = dnnconf(capsys, "check", path, "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert set(report) == {"config", "findings", "counts"} and report["config"] == str(path)
    assert report["counts"] == {"error": 1, "warning": 1, "info": 0}
    assert [item["id"] for item in report["findings"]] == ["DNC110", "DNC130"]
    first = report["findings"][0]
    assert set(first) == {"id", "severity", "message", "fix", "section", "path"}
    assert first["severity"] == "error" and first["section"] == "§1.2" and first["path"] == "model.batch_norm"
    code, out, _ = dnnconf(capsys, "check", write(tmp_path, CLEAN), "--format", "json")
    assert code == 0 and json.loads(out)["findings"] == []


def test_chinese_by_flag_and_by_locale(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, ERROR)
    code, out, _ = dnnconf(capsys, "check", path, "--lang", "zh")
    assert code == 1 and "错误" in out and "批量归一化" in out and "修改" in out
    code, out, _ = dnnconf(capsys, "check", path, "--lang", "zh", "--format", "json")
    finding = json.loads(out)["findings"][0]
    assert "批量归一化" in finding["message"] and finding["severity"] == "error"  # the schema stays English
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert "批量归一化" in dnnconf(capsys, "check", path)[1]
    assert "batch normalization" in dnnconf(capsys, "check", path, "--lang", "en")[1]


def test_set_overrides_and_run_folders(tmp_path, capsys):
    path = write(tmp_path, ERROR)
    code, out, _ = dnnconf(capsys, "check", path, "--set", "model.batch_norm=none")
    assert code == 0 and "no findings" in out
    run = tmp_path / "run"
    run.mkdir()
    write(run, WARNING, "config.yaml")
    code, out, _ = dnnconf(capsys, "check", run)
    assert code == 0 and "DNC130" in out and str(run / "config.yaml") in out
    code, _, err = dnnconf(capsys, "check", path, "--set", "model.hidden")
    assert code == 2 and "KEY=VALUE" in err


def test_recommend_prints_or_writes_a_config_that_checks_clean(tmp_path, capsys):
    code, out, _ = dnnconf(capsys, "recommend", "--deep", "--schedule", "one_cycle", "--hidden", "64,32,16")
    assert code == 0 and out.startswith("# The note's default configuration") and "hidden: [64, 32, 16]" in out
    target = tmp_path / "rec.yaml"
    code, out, _ = dnnconf(capsys, "recommend", "--self-normalizing", "--regularize", "--dataset", "digits",
                           "--input-shape", "8,8", "--out", target)
    assert code == 0 and out.strip() == f"wrote {target}"
    assert "selu" in target.read_text(encoding="utf-8")
    code, out, _ = dnnconf(capsys, "check", target)
    assert code == 0 and "no findings" in out


@pytest.mark.parametrize("argv, fragment", [
    (["--self-normalizing", "--sparse"], "SELU cannot use"),
    (["--hidden", "300,x"], "not a comma-separated list"),
    (["--classes", "1"], "at least 2"),
    (["--schedule", "cosine"], "invalid choice"),
    (["--out", "/nonexistent-folder/r.yaml"], "cannot write"),
])
def test_recommend_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = dnnconf(capsys, "recommend", *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_wired_into_the_dnnconf_command(tmp_path, capsys):
    from dnnconf import cli

    assert cli.main(["check", str(write(tmp_path, ERROR))]) == 1
    assert cli.main(["check", str(tmp_path / "missing.yaml")]) == 2
