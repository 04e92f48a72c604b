"""The texts of `dnnconf check`, in English and in Chinese (the note's language): the languages, the
note's sections, the severities and the output's words here; each rule's own texts (`RULE_TEXTS`,
`WHY`) in `rule_texts.py`, imported here so that every text is reachable from this module.
"""

from __future__ import annotations

from dnnconf.advice.rule_texts import RULE_TEXTS, WHY

__all__ = ["LANGS", "RULE_TEXTS", "SECTIONS", "SEVERITY_NAMES", "UI", "WHY"]

LANGS = ("en", "zh")

SECTIONS: dict[str, dict[str, str]] = {
    "1": {"en": "gradient problems", "zh": "梯度问题"},
    "1.1": {"en": "weight initialization", "zh": "权重初始化技术"},
    "1.2": {"en": "better activation functions", "zh": "更好的激活函数"},
    "1.3": {"en": "batch normalization", "zh": "批量归一化"},
    "1.4": {"en": "gradient clipping", "zh": "梯度裁剪"},
    "2": {"en": "transfer learning", "zh": "迁移学习"},
    "3": {"en": "optimizers", "zh": "优化器"},
    "3.1": {"en": "momentum", "zh": "动量"},
    "3.2": {"en": "Nesterov accelerated gradient", "zh": "Nesterov 加速梯度"},
    "3.3": {"en": "AdaGrad", "zh": "AdaGrad"},
    "3.5": {"en": "Adam and its variants", "zh": "Adam 及其变体"},
    "4": {"en": "learning-rate schedules", "zh": "学习率的选择"},
    "5": {"en": "regularization", "zh": "正则化"},
    "5.1": {"en": "early stopping", "zh": "early stopping"},
    "5.3": {"en": "l1 and l2 regularization", "zh": "L1、L2 正则化"},
    "5.4": {"en": "dropout", "zh": "dropout"},
    "5.5": {"en": "max-norm regularization", "zh": "最大范数正则化"},
    "6": {"en": "summary", "zh": "总结"},
}

SEVERITY_NAMES = {
    "error": {"en": "error", "zh": "错误"},
    "warning": {"en": "warning", "zh": "警告"},
    "info": {"en": "info", "zh": "提示"},
}

# Words of the text report.
UI: dict[str, dict[str, str]] = {
    "fix": {"en": "fix", "zh": "修改"},
    "note": {"en": "note", "zh": "笔记"},
    "clean": {"en": "{source}: no findings, the configuration follows the note",
              "zh": "{source}：未发现问题，配置符合笔记的建议"},
    "summary": {"en": "{source}: {error} error(s), {warning} warning(s), {info} info",
                "zh": "{source}：{error} 个错误，{warning} 个警告，{info} 条提示"},
    "also": {"en": " (also at {paths})", "zh": "（另见 {paths}）"},
    "more": {"en": "{n} more", "zh": "另外 {n} 处"},
}
