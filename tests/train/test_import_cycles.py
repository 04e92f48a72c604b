"""No two modules of dnnconf.train import each other, not even through imports made for annotations only
(`if TYPE_CHECKING:`, which the import contracts leave out): the listeners name what they read on the loop
with a protocol of their own (`callbacks.LoopView`), not the loop that imports them."""

import itertools

import pytest


def test_no_two_training_modules_import_each_other_even_for_annotations():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("dnnconf", exclude_type_checking_imports=False, cache_dir=None)
    modules = sorted(graph.find_children("dnnconf.train"))
    circles = [(a, b) for a, b in itertools.combinations(modules, 2)
               if graph.chain_exists(a, b, as_packages=True) and graph.chain_exists(b, a, as_packages=True)]
    assert circles == []


def test_no_two_packages_of_dnnconf_import_each_other_even_for_annotations():
    """The import contracts (pyproject's [tool.importlinter]) judge run-time imports; annotations count here:
    `nn` builds from a layer list (`config.layers` makes it) and does not name the config's types."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("dnnconf", exclude_type_checking_imports=False, cache_dir=None)
    packages = sorted(name for name in graph.find_children("dnnconf") if graph.find_children(name))
    circles = [(a, b) for a, b in itertools.combinations(packages, 2)
               if graph.chain_exists(a, b, as_packages=True) and graph.chain_exists(b, a, as_packages=True)]
    assert circles == []
