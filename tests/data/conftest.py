"""What the data tests share: a Fashion-MNIST search that sees only the files a test writes."""

import pytest

from dnnconf.data import fashion_mnist as fm


@pytest.fixture
def offline_fashion_mnist(tmp_path, monkeypatch):
    """No real home, cache, system copy or network: each test sees only the files it writes."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DNNCONF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DNNCONF_DATA", raising=False)
    monkeypatch.setattr(fm, "SYSTEM_DIRS", [])

    def offline(dest):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(fm, "download", offline)
