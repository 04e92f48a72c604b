"""training.compile: the compiled training forward trains the same network as the eager one."""

import pytest
import torch
from safetensors.torch import load_file

from dnnconf.errors import ConfigError
from dnnconf.run import train
from dnnconf.train.callbacks import Listener
from dnnconf.train.compiled import cpp_compiler_found

needs_compiler = pytest.mark.skipif(not cpp_compiler_found(), reason="TorchInductor needs a C++ compiler")


class Seen(Listener):
    """Keeps what the loop calls for a training batch."""

    def on_train_begin(self, loop):
        self.forward = loop.forward


@needs_compiler
def test_compiled_run_matches_the_eager_run_and_resumes(tmp_path, digits_config):
    # batch 32 leaves a smaller last batch (one dynamic-shape graph); the generated kernels may sum in another
    # order than eager ones, so weights and losses agree within float tolerance, not bit for bit
    sections = {"model": {"hidden": [32, 16]}, "training": {"epochs": 2, "batch_size": 32, "early_stopping": None}}
    eager = train(digits_config(**sections), tmp_path / "eager", quiet=True)
    torch._dynamo.reset()
    seen = Seen()
    compiled = train(digits_config(**{**sections, "training": {**sections["training"], "compile": True}}),
                     tmp_path / "compiled", quiet=True, listeners=(seen,))
    assert isinstance(seen.forward, torch._dynamo.eval_frame.OptimizedModule)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it compiled, not ran eagerly
    a, b = load_file(str(eager.folder / "model.safetensors")), load_file(str(compiled.folder / "model.safetensors"))
    assert a.keys() == b.keys()  # the compiled forward shares the network's parameters: same names
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-4)
    for row_eager, row_compiled in zip(eager.state.history, compiled.state.history, strict=True):
        assert row_compiled["loss"] == pytest.approx(row_eager["loss"], rel=1e-4)
    assert compiled.test["accuracy"] == pytest.approx(eager.test["accuracy"], abs=0.01)

    more = digits_config(**{**sections, "training": {**sections["training"], "epochs": 3, "compile": True}})
    resumed = train(more, resume=compiled.folder, force=True, quiet=True)
    assert [row["epoch"] for row in resumed.state.history] == [1, 2, 3]


def test_compile_is_refused_with_parallel_seeds_before_any_folder(tmp_path, digits_config):
    config = digits_config(training={"compile": True, "parallel_seeds": 2})
    with pytest.raises(ConfigError, match=r"training.compile: not available with training.parallel_seeds: 2"):
        train(config, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_compile_without_a_cpp_compiler_is_one_config_error(tmp_path, digits_config, monkeypatch):
    import dnnconf.train.compiled as compiled

    monkeypatch.setattr(compiled, "cpp_compiler_found", lambda: False)
    with pytest.raises(ConfigError, match=r"training.compile: true needs a C\+\+ compiler"):
        train(digits_config(training={"compile": True}), tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
