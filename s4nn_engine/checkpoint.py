"""Checkpoints: save and load a network with its run settings, history and metadata.

File format (version 1)
-----------------------
A checkpoint is a ZIP archive of ``.npy`` members, as written by NumPy's
``savez``, and it loads with ``np.load(path, allow_pickle=False)``. Nothing in
it is pickled. :func:`save_checkpoint` writes the members uncompressed, and
:func:`load_checkpoint` also reads deflate-compressed files
(``np.savez_compressed``). Members:

``weights_1`` … ``weights_L``
    float64, little-endian, C order: W^l of shape (N_l, N_{l-1}), with any
    pending L2 scale of the network multiplied in.
``row_classes``
    int64, shape (N_L,): the class that output row k stands for.
``metadata_json``
    uint8, one axis: UTF-8 JSON object with the keys

    - ``format``: ``"s4nn-explorer checkpoint"``;
    - ``format_version``: integer, 1 for this layout;
    - ``network_config``: ``NetworkConfig.to_dict()``, which fixes the shapes;
    - ``settings``: ``Settings.to_dict()`` of the run, or null for imported weights;
    - ``class_names``: list of strings, indexed by class;
    - ``history``: list of per-epoch records (JSON objects), oldest first;
    - ``metadata``: free JSON object (epoch, dataset, kind, created, seed, …);
    - ``sha256``: object mapping each array member name (``weights_l`` and
      ``row_classes``) to the hex SHA-256 of that array's bytes in C order.
      It catches a damaged or replaced array that still has a valid ZIP CRC.

The JSON contains no NaN or Infinity. A non-finite float in ``history`` or
``metadata`` is stored as null. On loading, null inside ``history`` becomes
NaN again (so a history record cannot carry None), while null inside
``metadata`` stays None. Tuples and NumPy arrays are stored as lists, NumPy
scalars as plain numbers, and every object key must be a string.

The file is written at exactly the path given; no ``.npz`` suffix is added.
Writing is atomic: the archive goes to a hidden temporary file in the target's
folder, which is flushed, synced and then renamed over the target, so a
failed save leaves any earlier file at the target unchanged.

``docs/checkpoint-format.md`` describes the same format for readers outside
this package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import secrets
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping, Sequence

import numpy as np

from s4nn_engine.config import NetworkConfig, Settings, SettingsError
from s4nn_engine.network import Network

logger = logging.getLogger(__name__)

FORMAT_NAME = "s4nn-explorer checkpoint"
FORMAT_VERSION = 1

# Output row k of the published S4NN weights stands for digit REFERENCE_CLASS_ORDER[k].
REFERENCE_CLASS_ORDER = (4, 1, 0, 7, 9, 2, 3, 5, 8, 6)

_METADATA_MEMBER = "metadata_json"
_ROW_CLASSES_MEMBER = "row_classes"
_WEIGHT_DTYPE = np.dtype("<f8")
_ROW_CLASSES_DTYPE = np.dtype("<i8")
# Room for the .npy header in front of an array's data. NumPy pads headers to a
# multiple of 64 bytes, and its reader rejects headers over 10,000 bytes by default.
_NPY_HEADER_ALLOWANCE = 1 << 16
_METADATA_KEYS = (
    "format", "format_version", "network_config", "settings",
    "class_names", "history", "metadata", "sha256",
)

_DAMAGED_HINT = "The file is damaged or incomplete; load an earlier checkpoint or save this one again."


class CheckpointError(Exception):
    """A checkpoint or weights file that cannot be written or read, with the file, the problem and the fix."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    ``settings`` is None for imported weights. ``history`` contains per-epoch
    records, oldest first. ``metadata`` is the free dictionary given when saving.
    """

    network: Network
    settings: Settings | None
    history: tuple[dict, ...]
    metadata: dict


# -- saving ------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike, network: Network, *, settings: Settings | None = None,
                    history: Sequence[dict] = (), metadata: Mapping | None = None) -> Path:
    """Write ``network`` with its run ``settings``, ``history`` and ``metadata`` to ``path`` atomically.

    The caller's network is left unchanged; its pending L2 scale is multiplied
    into the saved weights. Returns the path written, exactly as given (no
    suffix is added).

    Raises
    ------
    CheckpointError
        If the folder does not exist, the settings are invalid or do not match
        the network, a history or metadata value cannot be stored as JSON, or
        writing fails. An earlier file at ``path`` is then left as it was.
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise CheckpointError(
            f"cannot save checkpoint {target}: folder {folder} does not exist. "
            "Create the folder or choose another path."
        )

    # Network.weights() returns copies with the pending scale multiplied in,
    # which gives the same values as fold_scales() without changing the network.
    weights = [np.ascontiguousarray(w, dtype=_WEIGHT_DTYPE) for w in network.weights()]
    row_classes = np.ascontiguousarray(network.row_classes, dtype=_ROW_CLASSES_DTYPE)
    arrays = {f"weights_{l}": w for l, w in enumerate(weights, start=1)}
    arrays[_ROW_CLASSES_MEMBER] = row_classes

    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "network_config": network.config.to_dict(),
        "settings": _settings_to_dict(target, settings, network.config),
        "class_names": list(network.class_names),
        "history": _convert_for_json(target, "history", list(history)),
        "metadata": _convert_for_json(target, "metadata", dict(metadata or {})),
        "sha256": {name: _sha256_hex(array) for name, array in arrays.items()},
    }
    if not all(isinstance(record, dict) for record in document["history"]):
        raise CheckpointError(
            f"cannot save checkpoint {target}: every history record must be a dict (a JSON object)"
        )
    text = json.dumps(document, allow_nan=False, ensure_ascii=False, indent=1)
    arrays[_METADATA_MEMBER] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    _write_atomically(target, lambda stream: _write_npz(stream, arrays))
    logger.debug("Saved checkpoint %s (%d weight layers, %d history records)",
                 target, len(weights), len(document["history"]))
    return target


def _settings_to_dict(target: Path, settings: Settings | None, config: NetworkConfig) -> dict | None:
    if settings is None:
        return None
    try:
        settings.validate()
    except SettingsError as error:
        raise CheckpointError(f"cannot save checkpoint {target}: invalid settings: {error}") from error
    _check_settings_match(settings, config, f"cannot save checkpoint {target}")
    return settings.to_dict()


def _check_settings_match(settings: Settings, config: NetworkConfig, context: str) -> None:
    """Reject settings that describe a network of another shape or t_max than the weights."""
    run = settings.network
    if run.layer_sizes != config.layer_sizes or run.t_max != config.t_max:
        raise CheckpointError(
            f"{context}: the settings describe layers {list(run.layer_sizes)} with t_max {run.t_max}, "
            f"but the network has layers {list(config.layer_sizes)} with t_max {config.t_max}. "
            "Pass the settings of the run that produced this network."
        )


def _convert_for_json(target: Path, where: str, value: Any) -> Any:
    """Convert ``value`` to plain JSON types, storing non-finite floats as None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return _convert_for_json(target, where, value.tolist())
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CheckpointError(
                    f"cannot save checkpoint {target}: {where} has the key {key!r} of type "
                    f"{type(key).__name__}; JSON object keys must be strings, so convert it with str()"
                )
            converted[key] = _convert_for_json(target, f"{where}[{key!r}]", item)
        return converted
    if isinstance(value, (list, tuple)):
        return [_convert_for_json(target, f"{where}[{index}]", item) for index, item in enumerate(value)]
    raise CheckpointError(
        f"cannot save checkpoint {target}: {where} is a {type(value).__name__}, which JSON cannot store; "
        "give numbers, strings, booleans, None, lists or dicts"
    )


def _sha256_hex(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes(order="C")).hexdigest()


def _write_npz(stream: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as uncompressed ``.npy`` members of a ZIP archive, like ``np.savez``."""
    with zipfile.ZipFile(stream, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _write_atomically(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through ``write`` to a temporary file beside ``target``, then rename it over ``target``."""
    descriptor, temp_path = _create_temp_file(target)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_path, target)
    except BaseException as error:
        _remove_temp_file(temp_path)
        if isinstance(error, OSError):
            raise CheckpointError(
                f"cannot save checkpoint {target}: writing failed: {error}. "
                "Check the free disk space and the folder's permissions."
            ) from error
        raise
    _fsync_directory(target.parent)


def _create_temp_file(target: Path) -> tuple[int, Path]:
    # os.open with mode 0o666 lets the umask set the permissions, as for any new file.
    # mkstemp would create mode 0o600, so the renamed checkpoint would be readable by its owner only.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp_path = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(temp_path, flags, 0o666), temp_path
        except FileExistsError:
            continue
        except OSError as error:
            raise CheckpointError(
                f"cannot save checkpoint {target}: creating a temporary file in {target.parent} failed: "
                f"{error}. Check the folder's permissions."
            ) from error
    raise CheckpointError(
        f"cannot save checkpoint {target}: no free temporary file name in {target.parent} after 100 tries"
    )


def _remove_temp_file(temp_path: Path) -> None:
    try:
        temp_path.unlink(missing_ok=True)
    except OSError as error:
        logger.warning("Could not remove the temporary file %s: %s", temp_path, error)


def _fsync_directory(folder: Path) -> None:
    """Sync the folder so that the rename survives a crash, where the platform can open folders (not Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        logger.debug("Cannot open folder %s to sync it: %s", folder, error)
        return
    try:
        os.fsync(descriptor)
    except OSError as error:
        logger.debug("Syncing folder %s failed: %s", folder, error)
    finally:
        os.close(descriptor)


# -- loading -----------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        Naming the file, if it is missing, not a ZIP archive, truncated or
        lacks a member. Also if its ``format`` differs or its
        ``format_version`` is newer, if its JSON or settings are invalid, or
        if an array has the wrong shape or dtype, non-finite values or a
        SHA-256 that does not match.
    """
    source = Path(path)
    if not source.is_file():
        problem = "is a folder, not a file" if source.is_dir() else "does not exist"
        raise CheckpointError(f"cannot load checkpoint {source}: the path {problem}. Check the path.")

    try:
        stream = open(source, "rb")
    except OSError as error:
        raise CheckpointError(
            f"cannot load checkpoint {source}: opening it failed ({error}). Check the file's permissions."
        ) from error

    # np.load(path) leaks its own file handle when the ZIP directory is invalid
    # (seen with NumPy 2.4), so it gets an open stream that this function closes.
    with stream:
        magic = stream.read(4)
        stream.seek(0)
        if magic != b"PK\x03\x04":
            kind = "a NumPy .npy file" if magic == b"\x93NUM" else "not a ZIP archive"
            raise CheckpointError(
                f"cannot load checkpoint {source}: the file is {kind}, so it is not an S4NN Explorer "
                "checkpoint. Choose a .npz file saved by s4nn train or the window; import the "
                "published S4NN weights with s4nn evaluate --reference-weights or the window's "
                "File menu (import_reference_weights in Python)."
            )
        try:
            loaded = np.load(stream, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise CheckpointError(
                f"cannot load checkpoint {source}: it is not a readable ZIP archive ({error}). {_DAMAGED_HINT}"
            ) from error
        with loaded as archive:
            try:
                return _read_checkpoint(source, archive)
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise CheckpointError(
                    f"cannot load checkpoint {source}: reading a member failed ({error}). {_DAMAGED_HINT}"
                ) from error
            except (RecursionError, TypeError, AttributeError) as error:
                # Metadata nested too deeply, or values of unexpected types deep in the JSON.
                raise CheckpointError(
                    f"cannot load checkpoint {source}: its metadata has an invalid structure "
                    f"({type(error).__name__}: {error}). {_DAMAGED_HINT}"
                ) from error


def _read_checkpoint(source: Path, archive: np.lib.npyio.NpzFile) -> Checkpoint:
    document = _read_metadata(source, archive)
    context = f"cannot load checkpoint {source}"

    try:
        config = NetworkConfig.from_dict(document["network_config"])
        settings = None if document["settings"] is None else Settings.from_dict(document["settings"])
    except (SettingsError, TypeError) as error:
        # from_dict raises TypeError when a value has the wrong JSON type, such as a number for a list.
        raise CheckpointError(f"{context}: invalid settings: {error}") from error
    if settings is not None:
        _check_settings_match(settings, config, context)

    digests = document["sha256"]
    sizes = config.layer_sizes
    expected_members = {f"weights_{l}" for l in range(1, config.n_layers + 1)} | {_ROW_CLASSES_MEMBER}
    extra = sorted(name for name in archive.files
                   if name.startswith("weights_") and name not in expected_members)
    if extra:
        raise CheckpointError(
            f"{context}: it has the members {extra}, but its network has {config.n_layers} weight layers. "
            f"{_DAMAGED_HINT}"
        )

    weights = []
    for l in range(1, config.n_layers + 1):
        matrix = _read_array(source, archive, f"weights_{l}", (sizes[l], sizes[l - 1]), _WEIGHT_DTYPE, digests)
        if not np.all(np.isfinite(matrix)):
            raise CheckpointError(f"{context}: weights_{l} contains NaN or infinite values. {_DAMAGED_HINT}")
        weights.append(matrix)
    row_classes = _read_array(source, archive, _ROW_CLASSES_MEMBER, (sizes[-1],), _ROW_CLASSES_DTYPE, digests)

    try:
        network = Network(config, weights, class_names=document["class_names"], row_classes=row_classes)
    except SettingsError as error:
        raise CheckpointError(f"{context}: invalid network: {error}") from error

    history = tuple(_restore_history_nans(record) for record in document["history"])
    logger.debug("Loaded checkpoint %s (%d weight layers, %d history records)",
                 source, config.n_layers, len(history))
    return Checkpoint(network=network, settings=settings, history=history, metadata=document["metadata"])


def _read_metadata(source: Path, archive: np.lib.npyio.NpzFile) -> dict:
    """Read ``metadata_json`` and check its format, version and the types of its keys."""
    context = f"cannot load checkpoint {source}"
    if _METADATA_MEMBER not in archive.files:
        raise CheckpointError(
            f"{context}: the member {_METADATA_MEMBER} is missing, so this is not an S4NN Explorer "
            f"checkpoint or it is damaged. {_DAMAGED_HINT}"
        )
    try:
        raw = archive[_METADATA_MEMBER]
    except ValueError as error:
        raise CheckpointError(
            f"{context}: the member {_METADATA_MEMBER} is invalid ({error}). {_DAMAGED_HINT}"
        ) from error
    if not isinstance(raw, np.ndarray):
        raise CheckpointError(f"{context}: the member {_METADATA_MEMBER} is not a NumPy array. {_DAMAGED_HINT}")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(
            f"{context}: {_METADATA_MEMBER} has dtype {raw.dtype} and shape {raw.shape}; expected "
            f"uint8 with one axis. {_DAMAGED_HINT}"
        )
    try:
        document = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_reject_json_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(
            f"{context}: {_METADATA_MEMBER} is not valid JSON ({error}). {_DAMAGED_HINT}"
        ) from error
    if not isinstance(document, dict):
        raise CheckpointError(f"{context}: {_METADATA_MEMBER} is not a JSON object. {_DAMAGED_HINT}")

    if document.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{context}: its format is {document.get('format')!r}; expected {FORMAT_NAME!r}. "
            "Choose a checkpoint saved by S4NN Explorer."
        )
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{context}: format_version {version!r} is invalid. {_DAMAGED_HINT}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{context}: it has format version {version}, but this version of S4NN Explorer reads "
            f"versions up to {FORMAT_VERSION}. Update S4NN Explorer to open it."
        )

    missing = [key for key in _METADATA_KEYS if key not in document]
    if missing:
        raise CheckpointError(f"{context}: {_METADATA_MEMBER} lacks the keys {missing}. {_DAMAGED_HINT}")
    expected_types = {
        "network_config": dict, "settings": (dict, type(None)), "class_names": list,
        "history": list, "metadata": dict, "sha256": dict,
    }
    for key, expected in expected_types.items():
        if not isinstance(document[key], expected):
            raise CheckpointError(
                f"{context}: {key} in {_METADATA_MEMBER} has the type {type(document[key]).__name__}, "
                f"which is invalid. {_DAMAGED_HINT}"
            )
    if not all(isinstance(name, str) for name in document["class_names"]):
        raise CheckpointError(f"{context}: class_names must all be strings. {_DAMAGED_HINT}")
    if not all(isinstance(record, dict) for record in document["history"]):
        raise CheckpointError(f"{context}: every history record must be a JSON object. {_DAMAGED_HINT}")
    return document


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a checkpoint's JSON")


def _read_array(source: Path, archive: np.lib.npyio.NpzFile, name: str, shape: tuple[int, ...],
                dtype: np.dtype, digests: Mapping[str, Any]) -> np.ndarray:
    """Read one array member and check its shape, dtype and SHA-256."""
    context = f"cannot load checkpoint {source}"
    if name not in archive.files:
        raise CheckpointError(f"{context}: the member {name} is missing. {_DAMAGED_HINT}")

    # Bound the size before reading, so a damaged header cannot make NumPy
    # allocate far more memory than the network needs.
    max_bytes = math.prod(shape) * dtype.itemsize + _NPY_HEADER_ALLOWANCE
    stored_bytes = _member_size(archive, name)
    if stored_bytes > max_bytes:
        raise CheckpointError(
            f"{context}: the member {name} has {stored_bytes} bytes, more than the {max_bytes} that "
            f"shape {shape} needs. {_DAMAGED_HINT}"
        )

    try:
        array = archive[name]
    except ValueError as error:
        raise CheckpointError(f"{context}: the member {name} is invalid ({error}). {_DAMAGED_HINT}") from error
    if not isinstance(array, np.ndarray):
        raise CheckpointError(f"{context}: the member {name} is not a NumPy array. {_DAMAGED_HINT}")
    if array.shape != shape:
        raise CheckpointError(
            f"{context}: {name} has shape {array.shape}, but network_config requires {shape}. {_DAMAGED_HINT}"
        )
    if array.dtype.str != dtype.str:
        raise CheckpointError(
            f"{context}: {name} has dtype {array.dtype.str}; expected {dtype.str}. {_DAMAGED_HINT}"
        )

    expected_digest = digests.get(name)
    if not isinstance(expected_digest, str):
        raise CheckpointError(f"{context}: sha256 has no digest for {name}. {_DAMAGED_HINT}")
    actual_digest = _sha256_hex(array)
    if actual_digest != expected_digest.lower():
        raise CheckpointError(
            f"{context}: the SHA-256 of {name} is {actual_digest}, but the file records "
            f"{expected_digest}, so the array was changed or damaged. {_DAMAGED_HINT}"
        )
    return array


def _member_size(archive: np.lib.npyio.NpzFile, name: str) -> int:
    """Return the uncompressed size of a member, stored as ``name.npy`` or as ``name``."""
    try:
        return archive.zip.getinfo(f"{name}.npy").file_size
    except KeyError:
        return archive.zip.getinfo(name).file_size


def _restore_history_nans(value: Any) -> Any:
    """Turn the nulls that stand for NaN in history back into NaN."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {key: _restore_history_nans(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_history_nans(item) for item in value]
    return value


# -- published reference weights ---------------------------------------------

_RECONSTRUCT_ARRAY = np.empty(0).__reduce__()[0]
_RECONSTRUCT_SCALAR = np.float64(0).__reduce__()[0]
_REFERENCE_HIDDEN_SHAPE = (400, 28, 28)
_REFERENCE_OUTPUT_SHAPE = (10, 400, 1)


def _numpy_array_from_cupy(data: Any) -> np.ndarray:
    """Stand in for CuPy's ``array(obj)``, which its arrays pickle as ``array(host_copy)``."""
    if not isinstance(data, np.ndarray):
        raise pickle.UnpicklingError(
            f"the CuPy array constructor received a {type(data).__name__}; expected a NumPy array"
        )
    return np.array(data, copy=True)


# Every global that a pickled object ndarray of float arrays refers to, from
# NumPy 1.x (numpy.core) or 2.x (numpy._core), plus the CuPy array constructor
# under its names in CuPy < 9 (cupy.core.core) and ≥ 9 (cupy._core.core).
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT_ARRAY,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT_ARRAY,
    ("numpy.core.multiarray", "scalar"): _RECONSTRUCT_SCALAR,
    ("numpy._core.multiarray", "scalar"): _RECONSTRUCT_SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("cupy.core.core", "array"): _numpy_array_from_cupy,
    ("cupy._core.core", "array"): _numpy_array_from_cupy,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in ``_ALLOWED_GLOBALS``.

    Everything else raises CheckpointError before any object is built, so a
    hostile file cannot call arbitrary functions such as ``os.system``.
    """

    def __init__(self, stream: BinaryIO, source: Path) -> None:
        super().__init__(stream)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise CheckpointError(
                f"cannot import weights from {self._source}: its pickled data refers to {module}.{name}, "
                "which is not allowed because loading it could run arbitrary code. "
                "Only NumPy and CuPy arrays can be imported."
            )
        return allowed


def import_reference_weights(path: str | os.PathLike) -> Network:
    """Build a 784-400-10 network from the published S4NN ``weights_pretrained.npy``.

    The file is a ``.npy`` object array of two arrays, pickled with CuPy arrays
    inside: W[0] (400, 28, 28) contains the hidden weights, one 28×28 map per
    hidden neuron, and W[1] (10, 400, 1) the output weights. A plain NumPy
    object array of the same layout is accepted too. Only NumPy's array
    reconstruction globals and CuPy's array constructor, mapped to a NumPy
    copy, are resolved; any other global is rejected before it is called.

    The output rows keep the file's order, so row k stands for digit
    ``REFERENCE_CLASS_ORDER[k]``. The network uses t_max 256 and thresholds
    100 / 100, the settings these weights were trained with.

    Raises
    ------
    CheckpointError
        If the file is missing, not a ``.npy`` object array of two arrays,
        refers to a forbidden global, or contains arrays of other shapes or with
        non-finite values.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"cannot import weights from {source}: the file does not exist. Check the path.")

    with open(source, "rb") as stream:
        _read_object_array_header(source, stream)
        try:
            loaded = _RestrictedUnpickler(stream, source).load()
        except CheckpointError:
            raise
        except Exception as error:
            # Damaged pickle data fails with many exception types (UnpicklingError, EOFError,
            # TypeError from a reconstruction call, MemoryError and others), and all mean the same here.
            raise CheckpointError(
                f"cannot import weights from {source}: its pickled data is invalid "
                f"({type(error).__name__}: {error}). Use an unmodified weights_pretrained.npy."
            ) from error

    hidden, output = _check_reference_arrays(source, loaded)
    config = NetworkConfig(layer_sizes=(784, 400, 10), t_max=256, thresholds=(100.0, 100.0),
                           init_ranges=((0.0, 5.0), (0.0, 48.0)))
    network = Network(config, [hidden.reshape(400, 784), output.reshape(10, 400)],
                      class_names=[str(digit) for digit in range(10)], row_classes=REFERENCE_CLASS_ORDER)
    logger.debug("Imported reference weights from %s", source)
    return network


def _read_object_array_header(source: Path, stream: BinaryIO) -> None:
    """Read the ``.npy`` header and check that an object array of shape (2,) follows."""
    context = f"cannot import weights from {source}"
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise CheckpointError(
                f"{context}: .npy format version {version[0]}.{version[1]} is not supported; expected 1.0 or 2.0"
            )
    except ValueError as error:
        raise CheckpointError(f"{context}: it is not a valid .npy file ({error}).") from error
    if dtype != np.dtype(object) or shape != (2,):
        raise CheckpointError(
            f"{context}: it contains a {dtype} array of shape {shape}; expected an object array of "
            "two weight arrays, as in the published weights_pretrained.npy. Choose that file."
        )


def _check_reference_arrays(source: Path, loaded: Any) -> tuple[np.ndarray, np.ndarray]:
    context = f"cannot import weights from {source}"
    if not isinstance(loaded, np.ndarray) or loaded.dtype != object or loaded.shape != (2,):
        raise CheckpointError(f"{context}: the pickled data is not an object array of two weight arrays")

    checked = []
    for index, expected in enumerate((_REFERENCE_HIDDEN_SHAPE, _REFERENCE_OUTPUT_SHAPE)):
        array = loaded[index]
        if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
            kind = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise CheckpointError(f"{context}: W[{index}] is a {kind}; expected a floating-point array")
        if array.shape != expected:
            raise CheckpointError(f"{context}: W[{index}] has shape {array.shape}; expected {expected}")
        if not np.all(np.isfinite(array)):
            raise CheckpointError(f"{context}: W[{index}] contains NaN or infinite values")
        checked.append(np.asarray(array, dtype=np.float64))
    return checked[0], checked[1]
