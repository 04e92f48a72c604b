from pathlib import Path

from dnnconf.cli import build_parser
from dnnconf.config.reference import BEGIN, END, reference

README = Path(__file__).resolve().parents[1] / "README.md"


def test_configuration_reference_is_in_step_with_the_schema():
    text = README.read_text()
    section = text[text.index(BEGIN): text.index(END) + len(END)]
    assert section == reference(), "run: python -m dnnconf.config.reference --update README.md"


def test_every_command_is_documented():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    text = README.read_text()
    for command in commands:
        assert f"`dnnconf {command}" in text, command
