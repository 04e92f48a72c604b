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
