import torch

from dnnconf.optim.clipping import Clipping


def test_value_clipping_turns_the_notes_gradient():
    g = torch.tensor([0.9, 100.0])
    Clipping(clipvalue=1.0)([g])
    assert torch.allclose(g, torch.tensor([0.9, 1.0]))


def test_norm_clipping_keeps_the_direction():
    g = torch.tensor([0.9, 100.0])
    Clipping(clipnorm=1.0)([g])
    assert torch.allclose(g, torch.tensor([0.9, 100.0]) / torch.tensor([0.9, 100.0]).norm())
    assert torch.isclose(g.norm(), torch.tensor(1.0))


def test_clipnorm_is_per_tensor_and_global_clipnorm_is_joint():
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])
    Clipping(clipnorm=1.0)([a, b])
    assert torch.isclose(a.norm(), torch.tensor(1.0)) and torch.isclose(b.norm(), torch.tensor(0.5))
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])
    Clipping(global_clipnorm=1.0)([a, b])
    assert torch.allclose(a, torch.tensor([0.6, 0.8]))
    small = torch.tensor([0.1, 0.1])
    Clipping(global_clipnorm=1.0)([small])
    assert torch.allclose(small, torch.tensor([0.1, 0.1]))
