"""Config files are read within limits: each refusal is one ConfigError line naming the file (and line)."""

import os
import threading

import pytest

from dnnconf.config import load_config
from dnnconf.config.load import read_yaml
from dnnconf.config.yaml_text import parse_yaml
from dnnconf.errors import ConfigError
from dnnconf.limits import MAX_NESTING, MAX_NODES, MAX_TEXT_BYTES

# "billion laughs": 9 levels of 9 aliases, ~530 bytes that expand to 9**9 strings once walked
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))


def refusal(path, *fragments):
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_an_alias_bomb_is_refused_at_its_first_anchor(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 600
    refusal(path, "line 1", "anchors and aliases")


@pytest.mark.parametrize("text", ["base: &b {epochs: 3}\ntraining: *b\n", "training: {<<: {epochs: 3}}\nx: &y 1\n",
                                  "seed: !!int &s 3\n"])
def test_any_anchor_or_alias_is_refused(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    refusal(path, "anchors and aliases")


@pytest.mark.parametrize("text, line", [("seed: 1\ntraining: {epochs: 2}\nseed: 3\n", 3),
                                        ("training: {epochs: 2, batch_size: 8, epochs: 3}\n", 1),
                                        ("model:\n  hidden: [8]\n  hidden: [9]\n", 3)])
def test_duplicate_keys_are_refused_naming_the_key_and_both_lines(tmp_path, text, line):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    refusal(path, f"line {line}", "duplicate key", "first at line")


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 5000, 200_000])
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * depth + "]" * depth + "\n")
    refusal(path, f"nested more than {MAX_NESTING} levels")


def test_nesting_within_the_limit_reads(tmp_path):
    assert parse_yaml("[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)) is not None


def test_too_many_values_are_refused():
    with pytest.raises(Exception, match=f"more than {MAX_NODES:,} values"):
        parse_yaml("[" + "1," * MAX_NODES + "1]")


def test_a_file_over_the_size_cap_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_TEXT_BYTES // 10 + 1))
    refusal(path, "more than the 1.0 MiB accepted")


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n  # another\n"])
def test_an_empty_file_is_refused_with_the_way_to_ask_for_defaults(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    refusal(path, "is empty", "{}", "dnnconf recommend")


def test_braces_give_all_the_defaults(tmp_path):
    path = tmp_path / "defaults.yaml"
    path.write_text("{}\n")
    assert load_config(path) == load_config(None)


def test_a_null_document_is_not_a_mapping(tmp_path):
    path = tmp_path / "null.yaml"
    path.write_text("null\n")
    refusal(path, "expected a mapping", "null")


def test_a_folder_is_refused(tmp_path):
    refusal(tmp_path, "is a folder")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_dev_zero_is_refused_without_reading():
    refusal("/dev/zero", "not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(pytest.raises(ConfigError, load_config, fifo)),
                              daemon=True)
    reader.start()
    reader.join(timeout=120)
    if reader.is_alive():  # unblock the reader before failing, so the test process can end
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO as a config blocked")
    assert "not a regular file" in str(outcome[0].value)


def test_text_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"seed: \xff\xfe\n")
    refusal(path, "not UTF-8")


def test_read_yaml_names_what_it_reads(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="the file is empty$"):
        read_yaml(path, "file")
