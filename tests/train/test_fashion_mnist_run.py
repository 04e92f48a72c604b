from pathlib import Path

import pytest

from dnnconf.config import load_config
from dnnconf.run import train

SYSTEM = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.mark.skipif(not SYSTEM.is_file(), reason="no Fashion-MNIST (apt-get install dataset-fashion-mnist)")
def test_short_real_fashion_mnist_run(tmp_path):
    config = load_config("examples/fashion_mnist_default.yaml",
                         ["data.train_limit=20000", "training.epochs=2", "training.batch_size=64",
                          "training.early_stopping=null"])
    result = train(config, tmp_path / "run", quiet=True)
    assert result.config.model.input_shape == [28, 28] and result.config.model.output.units == 10
    assert result.test["accuracy"] > 0.78
    assert len(result.state.history) == 2
