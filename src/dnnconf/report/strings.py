"""The words the HTML pages show, in English and Chinese: one table, keyed by a short id.

Both languages go into every page, so its language switch needs no server; the first one shown is the
page's `lang` (the `--lang` option, else `dnnconf.advice.default_lang()`: zh under a zh locale). Series
labels that are history columns (`loss`, `val_accuracy`, …) are looked up here too, and shown as
written when the table has no entry (layer names, config keys).
The Chinese terms follow the note's: 学习曲线, 学习率, 梯度范数, 验证集, 训练集, 测试集, 早停.
"""

from __future__ import annotations

from dnnconf.errors import BadInput

LANGS = ("en", "zh")

STRINGS: dict[str, dict[str, str]] = {
    "run_report": {"en": "Run report", "zh": "训练报告"},
    "comparison": {"en": "Comparison of runs", "zh": "训练对比"},
    "learning_curves": {"en": "Learning curves", "zh": "学习曲线"},
    "loss_curve": {"en": "Learning curve: loss", "zh": "学习曲线：损失"},
    "metric_curve": {"en": "Metric", "zh": "指标"},
    "accuracy_title": {"en": "Learning curve: accuracy", "zh": "学习曲线：准确率"},
    "mae_title": {"en": "Learning curve: mean absolute error", "zh": "学习曲线：平均绝对误差"},
    "val_accuracy_title": {"en": "Validation accuracy", "zh": "验证集准确率"},
    "val_mae_title": {"en": "Validation MAE", "zh": "验证集平均绝对误差"},
    "accuracy_train_title": {"en": "Training accuracy", "zh": "训练集准确率"},
    "mae_train_title": {"en": "Training MAE", "zh": "训练集平均绝对误差"},
    "learning_rate": {"en": "Learning rate per step", "zh": "每步学习率"},
    "learning_rate_epoch": {"en": "Learning rate per epoch", "zh": "每轮学习率"},
    "momentum": {"en": "Momentum per step", "zh": "每步动量"},
    "grad_norm": {"en": "Gradient norm (mean per epoch)", "zh": "梯度范数（每轮平均）"},
    "layer_grad_norms": {"en": "Gradient norm per layer", "zh": "各层梯度范数"},
    "train_loss": {"en": "Training loss", "zh": "训练集损失"},
    "val_loss_title": {"en": "Validation loss", "zh": "验证集损失"},
    "train_metric": {"en": "Training", "zh": "训练集"},
    "val_metric": {"en": "Validation", "zh": "验证集"},
    "epoch": {"en": "epoch", "zh": "轮次"},
    "step": {"en": "optimizer step", "zh": "优化步数"},
    "train": {"en": "training", "zh": "训练集"},
    "validation": {"en": "validation", "zh": "验证集"},
    "loss": {"en": "training loss", "zh": "训练集损失"},
    "val_loss": {"en": "validation loss", "zh": "验证集损失"},
    "accuracy": {"en": "training accuracy", "zh": "训练集准确率"},
    "val_accuracy": {"en": "validation accuracy", "zh": "验证集准确率"},
    "mae": {"en": "training MAE", "zh": "训练集平均绝对误差"},
    "val_mae": {"en": "validation MAE", "zh": "验证集平均绝对误差"},
    "lr": {"en": "learning rate", "zh": "学习率"},
    "grad_norm_series": {"en": "gradient norm", "zh": "梯度范数"},
    "momentum_series": {"en": "momentum", "zh": "动量"},
    "summary": {"en": "Summary", "zh": "概要"},
    "status": {"en": "status", "zh": "状态"},
    "running": {"en": "training…", "zh": "训练中…"},
    "finished": {"en": "finished", "zh": "已完成"},
    "diverged": {"en": "diverged", "zh": "发散"},
    "stalled": {"en": "no update for a while (stopped?)", "zh": "长时间未更新（已中断？）"},
    "epochs_run": {"en": "epochs run", "zh": "已训练轮数"},
    "of": {"en": "of", "zh": "/"},
    "stop_reason": {"en": "stop reason", "zh": "停止原因"},
    "restored": {"en": "weights restored from epoch", "zh": "权重恢复自轮次"},
    "test_metrics": {"en": "test", "zh": "测试集"},
    "best_val": {"en": "best validation", "zh": "最佳验证集"},
    "final_val": {"en": "final validation", "zh": "最终验证集"},
    "train_time": {"en": "training time", "zh": "训练时间"},
    "epoch_time": {"en": "seconds per epoch (median)", "zh": "每轮秒数（中位数）"},
    "updated": {"en": "updated", "zh": "更新于"},
    "config": {"en": "Resolved configuration", "zh": "解析后的配置"},
    "auto_refresh": {"en": "auto-refresh", "zh": "自动刷新"},
    "zoom_hint": {"en": "drag to zoom, double-click to reset", "zh": "拖动缩放，双击复原"},
    "config_differences": {"en": "Configuration keys that differ", "zh": "不同的配置项"},
    "no_differences": {"en": "the configurations are identical", "zh": "配置完全相同"},
    "metrics_side_by_side": {"en": "Metrics side by side", "zh": "指标对比"},
    "key": {"en": "key", "zh": "配置项"},
    "run": {"en": "run", "zh": "训练"},
    "runs": {"en": "runs", "zh": "次数"},
    "epochs": {"en": "epochs", "zh": "轮数"},
    "spread_note": {"en": "with several seeds: mean, band = ± one standard deviation",
                    "zh": "多个随机种子：均值，阴影为 ± 一个标准差"},
    "final_val_loss": {"en": "final val. loss", "zh": "最终验证集损失"},
    "final_val_accuracy": {"en": "final val. accuracy", "zh": "最终验证集准确率"},
    "best_val_accuracy": {"en": "best val. accuracy", "zh": "最佳验证集准确率"},
    "final_val_mae": {"en": "final val. MAE", "zh": "最终验证集平均绝对误差"},
    "best_val_mae": {"en": "best val. MAE", "zh": "最佳验证集平均绝对误差"},
    "test_loss": {"en": "test loss", "zh": "测试集损失"},
    "test_accuracy": {"en": "test accuracy", "zh": "测试集准确率"},
    "test_mae": {"en": "test MAE", "zh": "测试集平均绝对误差"},
    "language": {"en": "中文", "zh": "English"},
    "no_data": {"en": "no finished epoch yet", "zh": "尚无完成的轮次"},
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise BadInput(f"--lang {lang!r}: accepted are {', '.join(LANGS)}")
    return lang


def text(key: str, lang: str = "en") -> str:
    """The string `key` in `lang`; `key` itself when the table has none."""
    entry = STRINGS.get(key)
    return entry[lang] if entry else key
