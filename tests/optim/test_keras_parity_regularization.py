"""Clipping, l1/l2 penalties and max-norm against Keras 3 on its torch backend."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from dnnconf.nn.constraints import MaxNorm  # noqa: E402
from dnnconf.nn.regularizers import KernelPenalty  # noqa: E402
from dnnconf.optim.clipping import Clipping  # noqa: E402

RNG = np.random.default_rng(0)
GRADS = [RNG.normal(size=(5, 3)).astype("float32") * 10, RNG.normal(size=(3,)).astype("float32"),
         np.array([0.9, 100.0], dtype="float32")]


def keras_clipped(**clip):
    """Keras applies clipping inside the optimizer: with SGD(lr=1) from zero weights, w = −clipped g."""
    variables = [keras.Variable(np.zeros_like(g)) for g in GRADS]
    optimizer = keras.optimizers.SGD(learning_rate=1.0, **clip)
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in GRADS], variables, strict=True))
    return [-np.asarray(keras.ops.convert_to_numpy(v)) for v in variables]


@pytest.mark.parametrize("clip", [{"clipvalue": 1.0}, {"clipnorm": 1.0}, {"global_clipnorm": 1.0},
                                  {"clipnorm": 50.0}, {"global_clipnorm": 500.0}])
def test_clipping_equals_keras(clip):
    ours = [torch.tensor(g) for g in GRADS]
    Clipping(**clip)(ours)
    for mine, theirs in zip(ours, keras_clipped(**clip), strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("l1, l2", [(0.0, 0.01), (0.1, 0.0), (0.1, 0.01)])
def test_penalty_equals_keras_regularization_loss(l1, l2):
    kernel = RNG.normal(size=(784, 30)).astype("float32")
    reference = keras.regularizers.L1L2(l1=l1, l2=l2)(keras.ops.convert_to_tensor(kernel))
    weight = torch.nn.Parameter(torch.tensor(kernel.T.copy()))  # torch layout (out, in)
    assert float(KernelPenalty(weight, l1, l2)()) == pytest.approx(float(reference), rel=1e-5)


def test_max_norm_equals_keras_on_a_dense_kernel():
    kernel = (RNG.normal(size=(20, 8)) * 0.5).astype("float32")
    reference = keras.ops.convert_to_numpy(keras.constraints.MaxNorm(1.0)(keras.ops.convert_to_tensor(kernel)))
    weight = torch.nn.Parameter(torch.tensor(kernel.T.copy()))
    MaxNorm(weight, 1.0)()
    np.testing.assert_allclose(weight.detach().numpy().T, np.asarray(reference), rtol=1e-6, atol=1e-7)
