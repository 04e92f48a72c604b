"""Data: Fashion-MNIST, scikit-learn's digits or your own .npz/.csv, split and normalized as tensors."""

from dnnconf.data.dataset import Dataset, apply_normalization, load_data
from dnnconf.data.idx import read_idx, write_idx

__all__ = ["Dataset", "apply_normalization", "load_data", "read_idx", "write_idx"]
