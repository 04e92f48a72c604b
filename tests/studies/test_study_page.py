"""`dnnconf study all` and `dnnconf study report`: the studies page generated from study folders."""

import hashlib
import re
from pathlib import Path

import pytest

from dnnconf.cli import main

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "docs" / "snippets" / "studies-template.md"
TEMPLATE_ZH = ROOT / "docs" / "snippets" / "studies-template.zh.md"
STUDIES = ("optimizers", "regularization")  # quick, and both with claims to judge


def tables(text: str) -> list[str]:
    """Each markdown table of `text` (a run of lines that start and end with `|`), trailing newline dropped."""
    return [block.rstrip("\n") for block in re.findall(r"((?:^\|.*\|$\n?)+)", text, re.M)]


def digest(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    code = main(["study", "all", "--quick", "--seeds", "2", "--only", ",".join(STUDIES), "--out", str(out)])
    assert code == 0
    return out


def test_study_all_runs_the_chosen_studies_and_writes_the_page(suite, capsys):
    assert sorted(p.name for p in suite.iterdir()) == ["images", "optimizers", "regularization", "studies.md"]
    page = (suite / "studies.md").read_text()
    for name in STUDIES:
        assert (suite / name / "results.csv").is_file() and f"`dnnconf study {name} --seeds 2" in page
    assert re.search(r"^\| all \| \| 12 \| \| \d+\.\d min \| \|$", page, re.M)  # 2 × 3 variants × 2 seeds
    assert main(["study", "all", "--quick", "--seeds", "2", "--only", "optimizers", "--out", str(suite)]) == 0
    printed = capsys.readouterr().out  # a second time: every run is read back, nothing retrained
    assert "6 of 6 runs already finished (read back)" in printed and "all 1 studies:" in printed


def test_the_page_tables_are_the_folders_summary_tables(suite, tmp_path):
    folders = [str(suite / name) for name in STUDIES]
    before = {name: digest(suite / name) for name in STUDIES}
    page = tmp_path / "docs" / "studies.md"
    assert main(["study", "report", *folders, "--template", str(TEMPLATE), "--out", str(page)]) == 0
    text = page.read_text()
    for name in STUDIES:
        summary = tables((suite / name / "summary.md").read_text())
        assert len(summary) >= 2  # the variants and the claims
        assert all(table in tables(text) for table in summary), name
        assert (page.parent / "images" / "studies" / f"{name}-curves.png").read_bytes() == \
            (suite / name / "curves.png").read_bytes()
        assert f"](images/studies/{name}-bars.png)" in text
        assert digest(suite / name) == before[name]  # the report writes nothing into the folders
    first = page.read_bytes()
    assert main(["study", "report", *folders, "--template", str(TEMPLATE), "--out", str(page)]) == 0
    assert page.read_bytes() == first  # rerunning the report changes nothing
    again = tmp_path / "again" / "studies.md"  # the suite's folder, expanded; the registry's order, not the given one
    assert main(["study", "report", str(suite), "--template", str(TEMPLATE), "--out", str(again)]) == 0
    assert again.read_bytes() == first
    assert main(["study", "report", *folders[::-1], "--template", str(TEMPLATE), "--out", str(again)]) == 0
    assert again.read_bytes() == first
    glance = text[text.index("--8<-- [start:glance]"):text.index("--8<-- [end:glance]")]
    assert "| every optimizer of the table does better than plain SGD (its stars: SGD *) | optimizers |" in glance
    assert "Not on this build of the page: no `init` study folder" in text
    assert "generated:" not in text.replace("This page is generated", "")


@pytest.mark.parametrize("page, template", [("studies.md", TEMPLATE), ("studies.zh.md", TEMPLATE_ZH)])
def test_the_template_keeps_every_section_other_pages_include(page, template):
    text = template.read_text()
    included = set()
    for other in (ROOT / "docs").rglob("*.md"):
        included |= set(re.findall(rf'--8<-- "{re.escape(page)}:([\w-]+)"', other.read_text()))
    assert included >= {"glance", "init", "selu-deep"}
    for name in included:
        assert f"--8<-- [start:{name}]" in text and f"--8<-- [end:{name}]" in text, name


@pytest.mark.parametrize("argv, message", [
    (["report", "{tmp}", "--out", "{tmp}/p.md"], "not a study folder (no results.csv, nor a folder of study"),
    (["report", "{suite}/optimizers", "--out", "{tmp}/p.md", "--template", "{tmp}/none.md"], "no such file"),
    (["report", "{suite}/optimizers", "--out", "{tmp}/p.md", "--template", "{tmp}/t.md"],
     "no `<!-- generated: study optimizers -->` line"),
    (["all", "--only", "optimisers", "--out", "{tmp}"], "unknown study 'optimisers' (did you mean 'optimizers'?)"),
])
def test_bad_input_is_one_line_exit_2(suite, tmp_path, capsys, argv, message):
    (tmp_path / "t.md").write_text("# a page\n<!-- generated: glance -->\n")
    code = main(["study", *[a.format(tmp=tmp_path, suite=suite) for a in argv]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.md").exists()


def test_a_folder_with_a_variant_the_study_does_not_define_is_refused(suite, tmp_path, capsys):
    import shutil

    folder = tmp_path / "optimizers"
    shutil.copytree(suite / "optimizers", folder)
    text = (folder / "results.csv").read_text()
    (folder / "results.csv").write_text(text.replace("optimizers,adam,adam,", "optimizers,adamx,adamx,"))
    assert main(["study", "report", str(folder), "--out", str(tmp_path / "p.md")]) == 2
    assert "variant 'adamx' is not a variant of study optimizers (" in capsys.readouterr().err


def test_an_invocation_that_trained_nothing_is_no_measurement(suite, tmp_path):
    import json
    import shutil

    folder = tmp_path / "optimizers"
    shutil.copytree(suite / "optimizers", folder)
    saved = json.loads((folder / "study.json").read_text())
    saved["invocations"] = [{**call, "trained": 0} for call in saved["invocations"]]  # e.g. the runs predate it
    (folder / "study.json").write_text(json.dumps(saved))
    assert main(["study", "report", str(folder), "--out", str(tmp_path / "p.md")]) == 0
    line = next(x for x in (tmp_path / "p.md").read_text().splitlines() if x.startswith("| optimizers | `dnnconf"))
    assert line.endswith("| 6 | not recorded | not recorded | not recorded |")


NUMBER = re.compile(r"[-+]?\d+\.\d+")


def numbers(table: str) -> list[list[str]]:
    """The decimals of each body row of a markdown table: what a translation must leave as it was."""
    return [NUMBER.findall(line) for line in table.splitlines()[2:]]


def test_the_chinese_page_has_the_english_tables_in_chinese_words(suite, tmp_path, monkeypatch):
    folders = [str(suite / name) for name in STUDIES]
    english, chinese = tmp_path / "en" / "studies.md", tmp_path / "zh" / "studies.zh.md"
    assert main(["study", "report", *folders, "--template", str(TEMPLATE), "--out", str(english)]) == 0
    argv = ["study", "report", *folders, "--lang", "zh", "--template", str(TEMPLATE_ZH), "--out", str(chinese)]
    assert main(argv) == 0
    first = chinese.read_bytes()
    assert main(argv) == 0
    assert chinese.read_bytes() == first  # rerunning the report changes nothing
    text = chinese.read_text()
    assert [numbers(t) for t in tables(text)] == [numbers(t) for t in tables(english.read_text())]
    for name in STUDIES:  # the folder's own tables, numbers and all, under Chinese words
        assert all(numbers(table) in [numbers(t) for t in tables(text)]
                   for table in tables((suite / name / "summary.md").read_text())), name
    glance = text[text.index("--8<-- [start:glance]"):text.index("--8<-- [end:glance]")]
    assert "| 笔记的结论 | 研究 | 实测（按种子配对，95% t 区间） | 判定 |" in glance
    assert "| 表中每个优化器都比普通 SGD 更好（表中的星级：SGD *） | optimizers |" in glance
    assert re.search(r"\d+ 项(?:一致|不一致|未能判定)", glance)
    assert re.search(r"\| (?:一致|不一致|2 个种子下未能判定) \|$", text, re.M)
    for english_word in ("not resolved", "agrees", "| verdict |", "final val acc", "Not on this build"):
        assert english_word not in text, english_word
    assert "本次生成的页面没有这一项：没有把 `init` 研究文件夹交给" in text
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "docs"))
    from test_translations import untranslated  # the rule every Chinese page of the docs is held to

    assert untranslated(text.splitlines()) == []


def test_a_language_the_page_is_not_written_in_is_refused(suite, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["study", "report", str(suite / "optimizers"), "--lang", "fr", "--out", str(tmp_path / "p.md")])
    assert exit_.value.code == 2 and "--lang" in capsys.readouterr().err
    assert not (tmp_path / "p.md").exists()


def test_every_claim_of_every_study_is_written_in_chinese(tmp_path):
    from dnnconf.studies import STUDIES as REGISTRY
    from dnnconf.studies import get_study
    from dnnconf.studies.framework import Options

    (tmp_path / "lr-find.json").write_text('{"max_lr": 0.1}')  # schedules' 1cycle rate, as its folder keeps it
    seen = 0
    for name in REGISTRY:
        module = get_study(name)
        if not hasattr(module, "build"):
            continue  # transfer, pretraining: their summary.md is included as written
        for quick in (False, True):
            options = Options(seeds=2, epochs=1, dataset="fashion_mnist", train_size=None, out=tmp_path, jobs=1,
                              quick=quick, read_only=True)
            study = module.build(options)
            assert study.claims, name
            for claim in study.claims:
                assert re.search(r"[\u4e00-\u9fff]", claim.claim_zh), (name, claim.claim)
                assert claim.text("zh") == claim.claim_zh and claim.text("en") == claim.claim
                seen += 1
            if study.notes:
                assert len(study.notes_zh) == len(study.notes), name
            if study.published_source:
                assert re.search(r"[\u4e00-\u9fff]", study.published_source_zh), name
    assert seen > 30


def test_counts_are_singular_for_one():
    from dnnconf.studies.language import plural

    assert (plural(1, "variant"), plural(5, "variant"), plural(0, "seed")) == ("1 variant", "5 variants", "0 seeds")



def test_study_all_passes_reference_keras_to_the_studies_that_take_it(tmp_path):
    import argparse

    from dnnconf.studies.suite import study_arguments

    args = argparse.Namespace(seeds=None, jobs=2, threads=None, reference="keras", quick=True, vectorize=False)
    assert study_arguments("optimizers", args, tmp_path).reference == "keras"
    assert not hasattr(study_arguments("regularization", args, tmp_path), "reference")  # Keras: not this study
    assert study_arguments("optimizers", args, tmp_path).jobs == 2


def test_study_all_without_keras_is_one_line_before_any_study_runs(tmp_path, capsys, monkeypatch):
    from dnnconf.errors import BadInput
    from dnnconf.studies import keras_reference

    def missing():
        raise BadInput("--reference keras: Keras 3 is not installed; pip install keras")

    monkeypatch.setattr(keras_reference, "import_keras", missing)
    code = main(["study", "all", "--quick", "--only", "optimizers", "--reference", "keras",
                 "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "Keras 3 is not installed" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
