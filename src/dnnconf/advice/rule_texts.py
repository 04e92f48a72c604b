"""The texts of each rule of `dnnconf check`, in English and in Chinese (the note's language).

Each rule has a `title` (what the rule is about, for the rule table), a `message` (what was found,
with `{placeholders}` filled from the finding) and a `fix`; `WHY` holds the note's reason. Section
numbers follow the note's own headings: 一 → §1 (1.1 initialization, 1.2 activations, 1.3 batch norm,
1.4 clipping), 二 → §2, 三 → §3 (3.1 momentum … 3.5 Adam), 四 → §4, 五 → §5 (5.1 early stopping … 5.5
max-norm), 六 → §6.
"""

from __future__ import annotations

# id -> {"title" | "message" | "fix": {lang: text}}
RULE_TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "DNC101": {
        "title": {"en": "ReLU-family activation with a Glorot or LeCun initializer",
                  "zh": "ReLU 系激活函数配了 Glorot 或 LeCun 初始化"},
        "message": {
            "en": "{activation} is a ReLU variant but its kernels start with {initializer} ({family}); the note's "
                  "table pairs ReLU, leaky ReLU, ELU, GELU, Swish and Mish with He initialization",
            "zh": "{activation} 属于 ReLU 系，但权重用 {initializer}（{family}）初始化；笔记的表格中 ReLU、"
                  "Leaky ReLU、ELU、GELU、Swish、Mish 都应配 He 初始化",
        },
        "fix": {"en": "use kernel_initializer: he_normal", "zh": "改用 kernel_initializer: he_normal"},
    },
    "DNC102": {
        "title": {"en": "tanh, sigmoid, softmax or linear layer with He initialization",
                  "zh": "tanh、sigmoid、softmax 或线性层配了 He 初始化"},
        "message": {
            "en": "{activation} is not a ReLU variant but its kernels start with {initializer} (He); the note's "
                  "table pairs none, tanh, sigmoid and softmax with Glorot initialization",
            "zh": "{activation} 不属于 ReLU 系，但权重用 {initializer}（He）初始化；笔记的表格中无激活、tanh、"
                  "sigmoid、softmax 应配 Glorot 初始化",
        },
        "fix": {"en": "use kernel_initializer: glorot_uniform (Keras's default) or glorot_normal",
                "zh": "改用 kernel_initializer: glorot_uniform（Keras 默认）或 glorot_normal"},
    },
    "DNC103": {
        "title": {"en": "SELU without LeCun initialization", "zh": "SELU 没有使用 LeCun 初始化"},
        "message": {
            "en": "SELU self-normalizes only when every hidden layer starts with LeCun normal initialization; "
                  "here the kernels start with {initializer}",
            "zh": "只有每个隐藏层都用 LeCun 正态初始化时 SELU 才能自规范；这里用的是 {initializer}",
        },
        "fix": {"en": "use kernel_initializer: lecun_normal", "zh": "改用 kernel_initializer: lecun_normal"},
    },
    "DNC104": {
        "title": {"en": "Plain random or constant initialization", "zh": "普通随机（或常数）初始化"},
        "message": {
            "en": "{initializer} is a plain random (or constant) initialization; the note's table rates random "
                  "initialization slow and often diverging: not recommended",
            "zh": "{initializer} 是普通随机（或常数）初始化；笔记的表格：随机初始化训练慢、经常发散，不推荐",
        },
        "fix": {"en": "use the variance-scaling preset that fits the activation: he_normal for the ReLU family, "
                      "glorot_uniform for tanh/sigmoid, lecun_normal for SELU",
                "zh": "改用与激活函数匹配的方差缩放初始化：ReLU 系用 he_normal，tanh/sigmoid 用 glorot_uniform，"
                      "SELU 用 lecun_normal"},
    },
    "DNC110": {
        "title": {"en": "SELU with batch normalization", "zh": "SELU 与批量归一化同用"},
        "message": {
            "en": "SELU normalizes on its own; the note: with SELU you cannot use batch normalization, so this "
                  "network cannot self-normalize",
            "zh": "SELU 自己完成归一化；笔记：使用 SELU 时不能用批量归一化，这个网络无法自规范",
        },
        "fix": {"en": "remove batch norm (model.batch_norm: none), or keep it and use Swish with he_normal "
                      "(the note's deep default configuration)",
                "zh": "去掉批量归一化（model.batch_norm: none），或保留它并改用 Swish 配 he_normal（笔记中深层网络的"
                      "默认配置）"},
    },
    "DNC111": {
        "title": {"en": "SELU with regular dropout", "zh": "SELU 与常规 dropout 同用"},
        "message": {
            "en": "regular dropout breaks SELU's self-normalization (the note: no regular dropout with SELU); "
                  "alpha dropout keeps the mean and variance",
            "zh": "常规 dropout 会破坏 SELU 的自规范（笔记：SELU 不能用常规 dropout）；"
                  "alpha dropout 能保持均值和方差",
        },
        "fix": {"en": "set model.dropout.kind: alpha_dropout (explicit form: {{alpha_dropout: {{rate: ...}}}})",
                "zh": "设置 model.dropout.kind: alpha_dropout（显式写法：{{alpha_dropout: {{rate: ...}}}}）"},
    },
    "DNC112": {
        "title": {"en": "SELU with l1/l2 regularization", "zh": "SELU 与 L1/L2 正则化同用"},
        "message": {
            "en": "kernel_regularizer {penalty} on a SELU network; the note: with SELU you cannot use l1 or l2 "
                  "regularization, so it cannot self-normalize",
            "zh": "SELU 网络上用了 kernel_regularizer {penalty}；笔记：使用 SELU 时不能用 L1 或 L2 正则化，"
                  "网络无法自规范",
        },
        "fix": {"en": "remove kernel_regularizer; regularize with alpha dropout and early stopping (the note's "
                      "self-normalizing table)",
                "zh": "去掉 kernel_regularizer；改用 alpha dropout 和 early stopping 正则化（笔记中的自规范配置表）"},
    },
    "DNC113": {
        "title": {"en": "SELU with max-norm", "zh": "SELU 与最大范数同用"},
        "message": {
            "en": "max-norm {max_norm} on a SELU network; the note: with SELU you cannot use max-norm, so it "
                  "cannot self-normalize",
            "zh": "SELU 网络上用了最大范数 {max_norm}；笔记：使用 SELU 时不能用最大范数，网络无法自规范",
        },
        "fix": {"en": "remove kernel_constraint", "zh": "去掉 kernel_constraint"},
    },
    "DNC114": {
        "title": {"en": "SELU with inputs that are not standardized", "zh": "SELU 的输入没有标准化"},
        "message": {
            "en": "SELU self-normalizes only when the input features have mean 0 and standard deviation 1; "
                  "data.normalize is {normalize}",
            "zh": "只有输入特征均值为 0、标准差为 1 时 SELU 才能自规范；data.normalize 是 {normalize}",
        },
        "fix": {"en": "set data.normalize: standardize and data.normalize_axis: feature (each input feature its "
                      "own mean and std)",
                "zh": "设置 data.normalize: standardize 和 data.normalize_axis: feature"
                      "（每个输入特征各自的均值和标准差）"},
    },
    "DNC115": {
        "title": {"en": "SELU outside a plain stack of dense SELU layers", "zh": "SELU 不在纯全连接 SELU 堆叠中"},
        "message": {
            "en": "SELU self-normalizes only in a plain stack of dense SELU layers; {what} breaks that (the "
                  "note: in other architectures SELU may do no better than ELU)",
            "zh": "SELU 只在纯全连接 SELU 层的堆叠中自规范；{what} 打破了这一条件（笔记：在其他架构中 SELU "
                  "可能不比 ELU 好）",
        },
        "fix": {"en": "use dense SELU layers only, or switch this network to ELU/Swish with he_normal and "
                      "batch norm",
                "zh": "只用全连接 SELU 层，或把这个网络改为 ELU/Swish 配 he_normal 和批量归一化"},
    },
    "DNC120": {
        "title": {"en": "Dense layer with a bias right before batch normalization",
                  "zh": "紧接批量归一化的全连接层带偏置"},
        "message": {
            "en": "a layer followed by batch norm needs no bias: batch norm's β shifts the output (the note's "
                  "model uses use_bias=False); dnnconf drops the bias anyway",
            "zh": "后面接批量归一化的层不需要偏置：批量归一化的 β 负责偏移（笔记的模型用 use_bias=False）；"
                  "dnnconf 会自动去掉该偏置",
        },
        "fix": {"en": "set use_bias: false on this layer", "zh": "在该层设置 use_bias: false"},
    },
    "DNC121": {
        "title": {"en": "Deep network (more than 10 hidden layers) with neither batch norm nor SELU",
                  "zh": "深层网络（超过 10 个隐藏层）既没有批量归一化也没有 SELU"},
        "message": {
            "en": "{layers} hidden layers with neither batch normalization nor SELU: gradients are likely to "
                  "vanish or explode",
            "zh": "{layers} 个隐藏层，既没有批量归一化也没有 SELU：梯度很可能消失或爆炸",
        },
        "fix": {"en": "add batch norm (model.batch_norm: before_activation) with Swish (the note's deep default), "
                      "or use the self-normalizing configuration (SELU, lecun_normal, standardized inputs)",
                "zh": "加上批量归一化（model.batch_norm: before_activation）并用 Swish（笔记中深层网络的默认配置），"
                      "或改用自规范配置（SELU、lecun_normal、标准化输入）"},
    },
    "DNC122": {
        "title": {"en": "Batch normalization after the activation", "zh": "批量归一化放在激活函数之后"},
        "message": {
            "en": "batch norm follows the activation; the note recommends dense/conv → batch norm → activation",
            "zh": "批量归一化放在了激活函数之后；笔记推荐：卷积/全连接 → BN → 激活函数",
        },
        "fix": {"en": "set model.batch_norm: before_activation (explicit form: dense without activation, "
                      "batch_norm, then activation)",
                "zh": "设置 model.batch_norm: before_activation（显式写法：无激活的 dense、batch_norm、"
                      "再接 activation）"},
    },
    "DNC123": {
        "title": {"en": "Deep network with ReLU", "zh": "深层网络使用 ReLU"},
        "message": {
            "en": "{layers} hidden layers with ReLU; the note's default table: ReLU if shallow, Swish if deep",
            "zh": "{layers} 个隐藏层使用 ReLU；笔记的默认配置表：浅层用 ReLU，深层用 Swish",
        },
        "fix": {"en": "set model.activation: swish (with he_normal and batch norm)",
                "zh": "设置 model.activation: swish（配 he_normal 和批量归一化）"},
    },
    "DNC130": {
        "title": {"en": "Gradient clipping by value", "zh": "按值裁剪梯度"},
        "message": {
            "en": "clipvalue {value} clips each component, which can turn the gradient: with threshold 1.0, "
                  "[0.9, 100.0] becomes [0.9, 1.0] and points along the diagonal",
            "zh": "clipvalue {value} 逐分量裁剪，可能改变梯度方向：阈值为 1.0 时 [0.9, 100.0] 会变成 [0.9, 1.0]，"
                  "大致指向对角线",
        },
        "fix": {"en": "use clipnorm: {value} (or global_clipnorm) instead, which keeps the direction",
                "zh": "改用 clipnorm: {value}（或 global_clipnorm），按范数裁剪不改变方向"},
    },
    "DNC201": {
        "title": {"en": "Reused layers unfrozen without a lower learning rate",
                  "zh": "解冻复用层时没有降低学习率"},
        "message": {
            "en": "the reused layers are frozen for {freeze_epochs} epoch(s), then unfrozen at the same learning "
                  "rate; the note: lowering the learning rate when unfreezing avoids damaging their fine-tuned "
                  "weights",
            "zh": "复用层先冻结 {freeze_epochs} 个 epoch，之后以相同学习率解冻；笔记：解冻复用层时降低学习率，"
                  "可以避免破坏它们精细调优的权重",
        },
        "fix": {"en": "set transfer.unfreeze_lr_factor below 1, e.g. 0.1",
                "zh": "把 transfer.unfreeze_lr_factor 设为小于 1，例如 0.1"},
    },
    "DNC301": {
        "title": {"en": "AdaGrad for a neural network", "zh": "用 AdaGrad 训练神经网络"},
        "message": {
            "en": "AdaGrad shrinks the learning rate so much that it often stops before reaching the optimum; "
                  "the note: do not use it to train deep neural networks",
            "zh": "AdaGrad 把学习率缩小得太多，常在达到最优解之前就停止；笔记：不应将其用于训练深度神经网络",
        },
        "fix": {"en": "use Nesterov SGD (sgd, momentum: 0.9, nesterov: true) or AdamW (the note's summary)",
                "zh": "改用 Nesterov SGD（sgd，momentum: 0.9，nesterov: true）或 AdamW（笔记的总结）"},
    },
    "DNC302": {
        "title": {"en": "l1/l2 regularization with an Adam-family optimizer", "zh": "Adam 系优化器配 L1/L2 正则化"},
        "message": {
            "en": "{optimizer} with kernel_regularizer {penalty}; the note: l1/l2 works with SGD, momentum and "
                  "Nesterov, but not with Adam and its variants",
            "zh": "{optimizer} 配了 kernel_regularizer {penalty}；笔记：L1/L2 正则化适用于 SGD、动量和 Nesterov，"
                  "但不适用于 Adam 及其变体",
        },
        "fix": {"en": "remove kernel_regularizer and use adamw's weight_decay (decoupled weight decay), or switch "
                      "to Nesterov SGD",
                "zh": "去掉 kernel_regularizer，改用 adamw 的 weight_decay（解耦的权重衰减），或换成 Nesterov SGD"},
    },
    "DNC303": {
        "title": {"en": "1cycle momentum cycling with an optimizer that has no momentum",
                  "zh": "1cycle 要循环动量，但优化器没有动量"},
        "message": {
            "en": "the 1cycle schedule is set to cycle momentum {max_momentum} → {min_momentum}, but {optimizer} "
                  "has no momentum to cycle",
            "zh": "1cycle 调度设置了动量循环 {max_momentum} → {min_momentum}，但 {optimizer} 没有动量可循环",
        },
        "fix": {"en": "use sgd with momentum: 0.9 (nesterov: true) or an Adam-family optimizer (beta_1 is "
                      "cycled); or remove max_momentum/min_momentum",
                "zh": "改用 momentum: 0.9（nesterov: true）的 sgd，或 Adam 系优化器（循环 beta_1）；"
                      "或去掉 max_momentum/min_momentum"},
    },
    "DNC304": {
        "title": {"en": "Plain SGD without momentum", "zh": "不带动量的普通 SGD"},
        "message": {
            "en": "plain gradient descent ignores past gradients and converges slowly (the note's comparison: "
                  "*/***); the typical momentum is 0.9",
            "zh": "普通梯度下降不关心之前的梯度，收敛慢（笔记的比较：*/***）；典型的动量值为 0.9",
        },
        "fix": {"en": "set optimizer.momentum: 0.9 and nesterov: true",
                "zh": "设置 optimizer.momentum: 0.9 和 nesterov: true"},
    },
    "DNC401": {
        "title": {"en": "Performance scheduling without validation data", "zh": "没有验证集却使用性能调度"},
        "message": {
            "en": "performance scheduling monitors {monitor}, but data.valid_size is 0: there is no validation "
                  "error to measure",
            "zh": "性能调度监控 {monitor}，但 data.valid_size 为 0：没有验证误差可测",
        },
        "fix": {"en": "set data.valid_size (e.g. 5000 or 0.1), or schedule.monitor: loss",
                "zh": "设置 data.valid_size（例如 5000 或 0.1），或 schedule.monitor: loss"},
    },
    "DNC402": {
        "title": {"en": "A learning rate that never decays", "zh": "学习率从不衰减"},
        "message": {
            "en": "a constant learning rate for up to {epochs} epochs; the note: start with a large learning rate "
                  "and lower it when training stops making fast progress",
            "zh": "在最多 {epochs} 个 epoch 中使用恒定学习率；笔记：从较大的学习率开始，在训练不再快速进步时降低它",
        },
        "fix": {"en": "use schedule: {{name: performance, factor: 0.5, patience: 5}} or one_cycle",
                "zh": "改用 schedule: {{name: performance, factor: 0.5, patience: 5}} 或 one_cycle"},
    },
    "DNC403": {
        "title": {"en": "1cycle with an optimizer that has no momentum", "zh": "1cycle 配没有动量的优化器"},
        "message": {
            "en": "1cycle will cycle only the learning rate: {optimizer} has no momentum (the note cycles "
                  "momentum 0.95 → 0.85 → 0.95 when momentum is used)",
            "zh": "1cycle 只会循环学习率：{optimizer} 没有动量（使用动量时笔记会循环动量 0.95 → 0.85 → 0.95）",
        },
        "fix": {"en": "add momentum (sgd with momentum: 0.9) to cycle it too",
                "zh": "加上动量（sgd 配 momentum: 0.9），让动量也参与循环"},
    },
    "DNC501": {
        "title": {"en": "Early stopping on a validation metric without validation data",
                  "zh": "没有验证集却按验证指标 early stopping"},
        "message": {
            "en": "early stopping monitors {monitor}, but data.valid_size is 0: there is no validation set",
            "zh": "early stopping 监控 {monitor}，但 data.valid_size 为 0：没有验证集",
        },
        "fix": {"en": "set data.valid_size (e.g. 5000 or 0.1), or training.early_stopping.monitor: loss",
                "zh": "设置 data.valid_size（例如 5000 或 0.1），或 training.early_stopping.monitor: loss"},
    },
    "DNC502": {
        "title": {"en": "Dropout rate outside 10–50%", "zh": "dropout 率不在 10%–50% 之间"},
        "message": {
            "en": "dropout rate {rate} is outside the note's usual 10%–50%",
            "zh": "dropout 率 {rate} 不在笔记所说的常用范围 10%–50% 之内",
        },
        "fix": {"en": "use a rate between 0.1 and 0.5 (the note: 20–30% in recurrent, 40–50% in convolutional "
                      "networks)",
                "zh": "使用 0.1 到 0.5 之间的 dropout 率（笔记：循环神经网络约 20%–30%，卷积神经网络约 40%–50%）"},
    },
    "DNC503": {
        "title": {"en": "Dropout on more than the top three layers", "zh": "dropout 用在了顶部三层以外"},
        "message": {
            "en": "dropout on {count} layers; the note: in practice dropout is applied only to the neurons of "
                  "the top one to three layers (not the output layer)",
            "zh": "dropout 用在了 {count} 层上；笔记：实际应用中通常只对顶部一到三层（不包括输出层）的神经元"
                  "使用 dropout",
        },
        "fix": {"en": "set model.dropout.top_layers to 3 or fewer (explicit form: keep dropout after the top three "
                      "layers only)",
                "zh": "把 model.dropout.top_layers 设为 3 或更小（显式写法：只在顶部三层之后保留 dropout）"},
    },
    "DNC504": {
        "title": {"en": "Dropout on the output layer", "zh": "对输出层使用 dropout"},
        "message": {
            "en": "dropout follows a {activation} layer, which is an output layer: it would drop output neurons, "
                  "which the note always excludes (dnnconf adds the output layer from model.output)",
            "zh": "dropout 跟在 {activation} 层之后，这是输出层：会丢弃输出神经元，而笔记说始终排除输出神经元"
                  "（dnnconf 根据 model.output 自动添加输出层）",
        },
        "fix": {"en": "remove this layer and the dense layer before it from model.layers; set model.output instead",
                "zh": "从 model.layers 中删除这一层及其前面的全连接层，改为设置 model.output"},
    },
    "DNC505": {
        "title": {"en": "No early stopping", "zh": "没有 early stopping"},
        "message": {
            "en": "training.early_stopping is off; the note's default configurations regularize with early stopping",
            "zh": "training.early_stopping 已关闭；笔记的默认配置用 early stopping 做正则化",
        },
        "fix": {"en": "set training.early_stopping: {{patience: 10}}",
                "zh": "设置 training.early_stopping: {{patience: 10}}"},
    },
    "DNC601": {
        "title": {"en": "Input features not normalized", "zh": "输入特征没有归一化"},
        "message": {
            "en": "data.normalize is none; the note's summary: always normalize the input features",
            "zh": "data.normalize 为 none；笔记的总结：始终要对输入特征做归一化",
        },
        "fix": {"en": "set data.normalize: standardize", "zh": "设置 data.normalize: standardize"},
    },
}

# id -> the note's reason, one short sentence (the "why" column of `rules_markdown`).
WHY: dict[str, dict[str, str]] = {
    "DNC101": {"en": "the initialization table: He (variance 2/fan_in) for ReLU and its variants",
               "zh": "初始化表：ReLU 及其变体用 He（方差 2/fan_in）"},
    "DNC102": {"en": "the initialization table: Glorot (variance 1/fan_avg) for none, tanh, sigmoid, softmax",
               "zh": "初始化表：无激活、tanh、sigmoid、softmax 用 Glorot（方差 1/fan_avg）"},
    "DNC103": {"en": "self-normalization needs LeCun normal initialization in every hidden layer",
               "zh": "自规范要求每个隐藏层都用 LeCun 正态初始化"},
    "DNC104": {"en": "random initialization: slow and often diverges, not recommended",
               "zh": "随机初始化：训练慢、经常发散，不推荐"},
    "DNC110": {"en": "with SELU you cannot use batch normalization", "zh": "使用 SELU 时不能用批量归一化"},
    "DNC111": {"en": "with SELU you cannot use regular dropout (alpha dropout instead)",
               "zh": "使用 SELU 时不能用常规 dropout（改用 alpha dropout）"},
    "DNC112": {"en": "with SELU you cannot use l1 or l2 regularization", "zh": "使用 SELU 时不能用 L1 或 L2 正则化"},
    "DNC113": {"en": "with SELU you cannot use max-norm", "zh": "使用 SELU 时不能用最大范数"},
    "DNC114": {"en": "self-normalization needs standardized inputs (mean 0, standard deviation 1)",
               "zh": "自规范要求输入标准化（均值 0，标准差 1）"},
    "DNC115": {"en": "self-normalization holds for a plain stack of dense layers only",
               "zh": "自规范只对纯全连接层的堆叠成立"},
    "DNC120": {"en": "batch norm's β makes the bias of the layer before it redundant (use_bias=False)",
               "zh": "批量归一化的 β 使前一层的偏置多余（use_bias=False）"},
    "DNC121": {"en": "deep networks suffer vanishing/exploding gradients; the deep default adds batch norm",
               "zh": "深层网络容易梯度消失/爆炸；深层默认配置加批量归一化"},
    "DNC122": {"en": "recommended order: dense/conv → batch norm → activation",
               "zh": "推荐顺序：卷积/全连接 → BN → 激活函数"},
    "DNC123": {"en": "default configuration: ReLU if shallow, Swish if deep",
               "zh": "默认配置：浅层用 ReLU，深层用 Swish"},
    "DNC130": {"en": "clipping by value can change the gradient's direction; clipnorm keeps it",
               "zh": "按值裁剪可能改变梯度方向；按范数裁剪（clipnorm）不会"},
    "DNC201": {"en": "lower the learning rate when unfreezing reused layers, to keep their fine-tuned weights",
               "zh": "解冻复用层时降低学习率，避免破坏精细调优的权重"},
    "DNC301": {"en": "AdaGrad often stops too early; do not use it for deep neural networks",
               "zh": "AdaGrad 常过早停止；不应用于训练深度神经网络"},
    "DNC302": {"en": "l1/l2 suits SGD, momentum and Nesterov, not Adam and its variants (use AdamW)",
               "zh": "L1/L2 适用于 SGD、动量和 Nesterov，不适用于 Adam 及其变体（改用 AdamW）"},
    "DNC303": {"en": "1cycle cycles momentum only when the optimizer uses momentum",
               "zh": "只有优化器使用动量时 1cycle 才能循环动量"},
    "DNC304": {"en": "plain gradient descent is slow; momentum 0.9 is typical",
               "zh": "普通梯度下降慢；典型的动量值为 0.9"},
    "DNC401": {"en": "performance scheduling measures the validation error", "zh": "性能调度依据验证误差"},
    "DNC402": {"en": "start with a large learning rate and lower it when progress slows",
               "zh": "从较大的学习率开始，进步变慢时降低它"},
    "DNC403": {"en": "with momentum, 1cycle also cycles it (0.95 → 0.85 → 0.95)",
               "zh": "使用动量时 1cycle 也循环动量（0.95 → 0.85 → 0.95）"},
    "DNC501": {"en": "early stopping watches the validation error", "zh": "early stopping 依据验证误差"},
    "DNC502": {"en": "the dropout rate is usually between 10% and 50%", "zh": "dropout 率通常在 10% 到 50% 之间"},
    "DNC503": {"en": "in practice dropout goes on the top one to three layers only",
               "zh": "实际应用中只对顶部一到三层使用 dropout"},
    "DNC504": {"en": "dropout never drops output neurons", "zh": "dropout 始终排除输出神经元"},
    "DNC505": {"en": "the default configurations regularize with early stopping",
               "zh": "默认配置用 early stopping 做正则化"},
    "DNC601": {"en": "always normalize the input features", "zh": "始终要对输入特征做归一化"},
}
