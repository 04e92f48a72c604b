from pathlib import Path

from dnnconf.cli import build_parser
from dnnconf.config.reference import generated_sections

README = Path(__file__).resolve().parents[1] / "README.md"


def test_generated_sections_are_in_step_with_the_code():
    """The configuration reference (schema, registries) and the rule table."""
    text = README.read_text()
    for (begin, end), expected in generated_sections().items():
        section = text[text.index(begin): text.index(end) + len(end)]
        assert section == expected, "run: python -m dnnconf.config.reference --update README.md"


def test_every_command_is_documented():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    text = README.read_text()
    for command in commands:
        assert f"`dnnconf {command}" in text, command
