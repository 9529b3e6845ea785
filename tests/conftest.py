"""Shared fixtures: the real data beside the checkout and small real networks."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REFERENCE_ORDER = (4, 1, 0, 7, 9, 2, 3, 5, 8, 6)


def shared_file(*parts: str) -> Path:
    """Return a file under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent; these checks need the shared test data beside the checkout")
    return path


def _read_idx_gz(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as stream:
        return np.frombuffer(stream.read(), dtype=np.uint8, offset=offset)


@pytest.fixture(scope="session")
def mnist_test():
    """The 10,000 MNIST test images (n, 28, 28) uint8 and labels int64."""
    images = _read_idx_gz(shared_file("mnist-test", "t10k-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    labels = _read_idx_gz(shared_file("mnist-test", "t10k-labels-idx1-ubyte.gz"), 8).astype(np.int64)
    return images, labels


@pytest.fixture(scope="session")
def training_oracle():
    with np.load(shared_file("s4nn-reference", "training_oracle_500.npz")) as data:
        return {name: data[name] for name in data.files}
