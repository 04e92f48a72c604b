import pytest

from dnnconf.errors import ConfigError
from dnnconf.optim.optimizers import OPTIMIZERS
from dnnconf.registry import edit_distance, nearest


@pytest.mark.parametrize("typo, meant", [("adma", "adam"), ("sdg", "sgd"), ("adamw_", "adamw"),
                                         ("rmsporp", "rmsprop"), ("nadma", "nadam")])
def test_the_nearest_name_is_the_one_meant(typo, meant):
    assert nearest(typo, OPTIMIZERS.names()) == f" (did you mean '{meant}'?)"


def test_nothing_close_suggests_nothing():
    assert nearest("transformer", OPTIMIZERS.names()) == ""


def test_edit_distance_counts_a_swap_once():
    assert edit_distance("adma", "adam") == 1 and edit_distance("abc", "abc") == 0 and edit_distance("", "ab") == 2


def test_unknown_name_error_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"'adma' is not one of the known optimizers \(did you mean 'adam'\?\); "
                                          r"known: adagrad, adam, adamax"):
        OPTIMIZERS.get("adma", "optimizer")


def test_the_regularizer_and_constraint_names_build_the_configs_objects():
    import torch

    from dnnconf.nn.constraints import CONSTRAINTS
    from dnnconf.nn.regularizers import REGULARIZERS

    weight = torch.nn.Parameter(torch.tensor([[3.0, -4.0]]))
    l2 = REGULARIZERS.build("l2", weight=weight)().detach()
    assert float(l2) == pytest.approx(0.01 * 25)  # Keras's l2 default 0.01
    both = REGULARIZERS.build({"name": "l1_l2", "l1": 0.1, "l2": 0.2}, weight=weight)().detach()
    assert float(both) == pytest.approx(0.1 * 7 + 0.2 * 25)
    CONSTRAINTS.build({"name": "max_norm", "max_norm": 1.0}, weight=weight)()
    assert float(weight.detach().norm()) == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ConfigError, match="constraints.max_norm: Field required"):
        CONSTRAINTS.resolve("max_norm")
