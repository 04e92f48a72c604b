"""The Chinese docs and `dnnconf check --lang zh` use the note's own words, not their synonyms."""

import re

import pytest
from docs_blocks import pages

from dnnconf.advice.messages import RULE_TEXTS, SECTIONS, UI

# (a word the note does not use, the note's word for it)
NOT_THE_NOTE = [
    ("自归一化", "自规范"),
    ("批归一化", "批量归一化"),
    ("批标准化", "批量归一化"),
    ("批量标准化", "批量归一化"),
    ("梯度剪裁", "梯度裁剪"),
    ("学习率计划", "学习率调度"),
    ("学习率策略", "学习率调度"),
    ("迁移训练", "迁移学习"),
    ("(?<!过)早停", "early stopping（提前停止）"),
]


def _zh_texts():
    yield "messages.py", " ".join(
        [s["zh"] for s in SECTIONS.values()] + [u["zh"] for u in UI.values()]
        + [part["zh"] for rule in RULE_TEXTS.values() for part in rule.values()])
    for page in pages("zh"):
        yield page.name, page.read_text(encoding="utf-8")


@pytest.mark.parametrize("wrong, right", NOT_THE_NOTE)
def test_the_note_words(wrong, right):
    for where, text in _zh_texts():
        assert not re.search(wrong, text), f"{where} says {wrong!r}; the note says {right!r}"
