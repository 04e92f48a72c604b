"""The Chinese docs and `dnnconf check --lang zh` use the note's own words, not their synonyms."""

import re

import pytest
from docs_blocks import pages

from dnnconf.advice import messages

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


def _zh_strings(value):
    """Every Chinese text in the nested {…: {"en": …, "zh": …}} tables of the messages module."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "zh" and isinstance(item, str):
                yield item
            else:
                yield from _zh_strings(item)


def _zh_texts():
    tables = [v for v in vars(messages).values() if isinstance(v, dict)]
    yield "messages.py", " ".join(text for table in tables for text in _zh_strings(table))
    for page in pages("zh"):
        yield page.name, page.read_text(encoding="utf-8")


@pytest.mark.parametrize("wrong, right", NOT_THE_NOTE)
def test_the_note_words(wrong, right):
    for where, text in _zh_texts():
        assert not re.search(wrong, text), f"{where} says {wrong!r}; the note says {right!r}"
