"""dnnconf: the note's techniques for configuring deep networks, as configuration, on PyTorch."""

__version__ = "0.1.0"
