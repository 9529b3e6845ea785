"""Tests of checkpoint saving, loading and verification, and of the reference weights import."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import math
import os
import pickle
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from s4nn_engine import checkpoint as checkpoint_module
from s4nn_engine.checkpoint import (
    FORMAT_VERSION,
    REFERENCE_CLASS_ORDER,
    Checkpoint,
    CheckpointError,
    import_reference_weights,
    load_checkpoint,
    save_checkpoint,
)
from s4nn_engine.config import make_settings
from s4nn_engine.network import Network

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REFERENCE_WEIGHTS = SHARED_DATA / "s4nn-reference" / "weights_pretrained.npy"
EXPECTED_TIMES = SHARED_DATA / "s4nn-reference" / "expected_times_t10k.npz"
MNIST_TEST_IMAGES = SHARED_DATA / "mnist-test" / "t10k-images-idx3-ubyte.gz"

T_MAX = 64


# -- helpers -----------------------------------------------------------------


def small_settings():
    return make_settings((7, 5), input_size=20, output_size=3, t_max=T_MAX,
                         thresholds=(3.0, 5.0, 8.0), init_ranges=((0.0, 1.0), (0.0, 2.0), (0.0, 4.0)),
                         epochs=4, seed=11)


def small_network(settings=None, seed=1) -> Network:
    """A 20-7-5-3 network whose output rows stand for classes 2, 0 and 1."""
    settings = settings or small_settings()
    drawn = Network.initialise(settings.network, np.random.default_rng(seed))
    return Network(settings.network, drawn.weights(), class_names=["cat", "dog", "bird"], row_classes=[2, 0, 1])


def random_inputs(n=50, seed=2) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, T_MAX + 1, size=(n, 20)).astype(np.int16)


def sha256_hex(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def read_members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def read_document(members: dict[str, np.ndarray]) -> dict:
    return json.loads(members["metadata_json"].tobytes().decode("utf-8"))


def encode_document(document: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)


def write_members(path: Path, members: dict[str, np.ndarray], *, compressed=False) -> Path:
    """Write members to ``path`` as an .npz archive; ``path`` must end in .npz."""
    assert path.suffix == ".npz"
    if compressed:
        np.savez_compressed(path, **members)
    else:
        np.savez(path, **members)
    return path


def saved_checkpoint(folder: Path, name="run.npz", **kwargs) -> Path:
    settings = small_settings()
    network = small_network(settings)
    return save_checkpoint(folder / name, network, settings=settings,
                           history=[{"epoch": 1, "accuracy": 0.5}], metadata={"kind": "last"}, **kwargs)


def open_descriptor_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def npy_header_bytes(shape=(2,)) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def require_shared(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            pytest.skip(f"shared test data not found: {path} (the folder shared/data beside the checkout)")


def read_mnist_test_images(count: int) -> np.ndarray:
    with gzip.open(MNIST_TEST_IMAGES, "rb") as stream:
        raw = stream.read()
    # IDX image files have a 16-byte header: magic, count, rows and columns as big-endian int32.
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)[:count]


# -- round trip --------------------------------------------------------------


def test_round_trip_keeps_everything(tmp_path):
    settings = small_settings()
    network = small_network(settings)
    history = [
        {"epoch": 1, "accuracy": 0.61, "loss": float("nan"), "outcomes": {"clean": 40, "tie": 5, "silent": 5}},
        {"epoch": 2, "accuracy": 0.72, "loss": 0.25, "resets": [0, 3]},
    ]
    metadata = {"epoch": 2, "dataset": "bundled", "dataset_checksum": "abc123", "kind": "best",
                "created": "2024-05-01T12:00:00+00:00", "seed": 11, "note": None}

    written = save_checkpoint(tmp_path / "run.npz", network, settings=settings, history=history, metadata=metadata)
    loaded = load_checkpoint(written)

    assert written == tmp_path / "run.npz"
    assert isinstance(loaded, Checkpoint)
    for before, after in zip(network.weights(), loaded.network.weights()):
        assert after.dtype == np.float64
        assert after.tobytes() == before.tobytes()
    assert loaded.network.config == network.config
    assert loaded.network.row_classes.tolist() == [2, 0, 1]
    assert loaded.network.class_names == ("cat", "dog", "bird")
    assert loaded.settings == settings
    assert loaded.metadata == metadata
    assert len(loaded.history) == 2
    assert math.isnan(loaded.history[0]["loss"])
    assert {k: v for k, v in loaded.history[0].items() if k != "loss"} == {
        k: v for k, v in history[0].items() if k != "loss"}
    assert loaded.history[1] == history[1]


def test_round_trip_forward_identical(tmp_path):
    network = small_network()
    loaded = load_checkpoint(save_checkpoint(tmp_path / "run.npz", network)).network
    inputs = random_inputs()

    before = network.forward(inputs)
    after = loaded.forward(inputs)

    # The comparison means something only if output neurons fire on some samples.
    assert (before.output_times < T_MAX).any()
    for layer, (times_before, times_after) in enumerate(zip(before.times, after.times)):
        assert np.array_equal(times_before, times_after), f"layer {layer}"
    assert np.array_equal(before.v_cross, after.v_cross)
    assert np.array_equal(before.v_last, after.v_last)


def test_imported_weights_have_no_settings(tmp_path):
    loaded = load_checkpoint(save_checkpoint(tmp_path / "imported.npz", small_network()))

    assert loaded.settings is None
    assert loaded.history == ()
    assert loaded.metadata == {}


def test_numpy_values_stored_as_json(tmp_path):
    metadata = {"seed": np.int64(7), "rate": np.float32(0.5), "flag": np.bool_(True),
                "counts": np.array([1, 2, 3]), "pair": (1, 2), "worst": float("inf")}

    loaded = load_checkpoint(save_checkpoint(tmp_path / "run.npz", small_network(), metadata=metadata))

    assert loaded.metadata == {"seed": 7, "rate": 0.5, "flag": True, "counts": [1, 2, 3],
                               "pair": [1, 2], "worst": None}


def test_saved_file_loads_with_plain_numpy(tmp_path):
    network = small_network()
    path = save_checkpoint(tmp_path / "run.npz", network, metadata={"kind": "manual"})

    members = read_members(path)
    document = read_document(members)

    assert sorted(members) == ["metadata_json", "row_classes", "weights_1", "weights_2", "weights_3"]
    assert members["weights_1"].shape == (7, 20)
    assert members["weights_3"].shape == (3, 5)
    assert members["row_classes"].dtype == np.int64
    assert document["format"] == "s4nn-explorer checkpoint"
    assert document["format_version"] == FORMAT_VERSION
    assert document["network_config"] == network.config.to_dict()
    assert document["sha256"]["weights_2"] == sha256_hex(network.weights()[1])
    assert document["sha256"]["row_classes"] == sha256_hex(np.array([2, 0, 1], dtype=np.int64))


def test_history_nan_stored_as_null(tmp_path):
    path = save_checkpoint(tmp_path / "run.npz", small_network(), history=[{"loss": float("nan")}])

    raw_json = read_members(path)["metadata_json"].tobytes().decode("utf-8")

    assert "NaN" not in raw_json
    assert read_document(read_members(path))["history"] == [{"loss": None}]


def test_save_uses_exact_path(tmp_path):
    written = save_checkpoint(tmp_path / "run.ckpt", small_network())

    assert written == tmp_path / "run.ckpt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]
    assert load_checkpoint(written).network.config.layer_sizes == (20, 7, 5, 3)


def test_save_overwrites_existing_file(tmp_path):
    target = tmp_path / "run.npz"
    save_checkpoint(target, small_network(seed=1))
    second = small_network(seed=5)

    save_checkpoint(target, second)

    assert np.array_equal(load_checkpoint(target).network.weights()[0], second.weights()[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]


def test_compressed_checkpoint_loads(tmp_path):
    original = saved_checkpoint(tmp_path)
    compressed = write_members(tmp_path / "compressed.npz", read_members(original), compressed=True)

    with zipfile.ZipFile(compressed) as archive:
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    loaded = load_checkpoint(compressed)
    assert np.array_equal(loaded.network.weights()[2], load_checkpoint(original).network.weights()[2])


# -- pending L2 scale ----------------------------------------------------------


def test_save_multiplies_pending_scale(tmp_path):
    network = small_network()
    unscaled = network.weights()
    # White-box setup: a pending L2 scale as training leaves it, without running the kernels.
    network._scales[:] = 0.9
    scaled = network.weights()

    path = save_checkpoint(tmp_path / "scaled.npz", network)
    members = read_members(path)

    assert not np.array_equal(scaled[0], unscaled[0])
    for l, expected in enumerate(scaled, start=1):
        assert np.array_equal(members[f"weights_{l}"], expected), f"weights_{l}"
    assert network._scales.tolist() == [0.9, 0.9, 0.9]
    assert np.array_equal(load_checkpoint(path).network.weights()[1], scaled[1])


# -- atomic write --------------------------------------------------------------


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("boom")])
def test_failed_save_keeps_previous_file(tmp_path, monkeypatch, failure):
    target = saved_checkpoint(tmp_path)
    previous_bytes = target.read_bytes()
    real_write_array = np.lib.format.write_array
    calls = []

    def write_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise failure
        return real_write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    expected_error = CheckpointError if isinstance(failure, OSError) else RuntimeError
    with pytest.raises(expected_error) as raised:
        save_checkpoint(target, small_network(seed=9), metadata={"kind": "manual"})

    assert len(calls) == 2
    if expected_error is CheckpointError:
        assert str(target) in str(raised.value)
    assert target.read_bytes() == previous_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]


def test_failed_replace_keeps_previous_file(tmp_path, monkeypatch):
    target = saved_checkpoint(tmp_path)
    previous_bytes = target.read_bytes()

    def fail_replace(source, destination):
        raise PermissionError(errno.EACCES, "Permission denied", str(destination))

    monkeypatch.setattr(checkpoint_module.os, "replace", fail_replace)
    with pytest.raises(CheckpointError, match="writing failed"):
        save_checkpoint(target, small_network(seed=9))

    assert target.read_bytes() == previous_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]


def test_save_missing_folder_raises(tmp_path):
    folder = tmp_path / "absent"

    with pytest.raises(CheckpointError) as raised:
        save_checkpoint(folder / "run.npz", small_network())

    assert str(folder) in str(raised.value)
    assert "does not exist" in str(raised.value)
    assert not folder.exists()


# -- invalid input to save -------------------------------------------------------


def test_save_rejects_settings_of_other_network(tmp_path):
    other = make_settings((6, 5), input_size=20, output_size=3, t_max=T_MAX)

    with pytest.raises(CheckpointError, match="layers"):
        save_checkpoint(tmp_path / "run.npz", small_network(), settings=other)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("metadata, fragment", [
    ({"when": object()}, "JSON cannot store"),
    ({1: "one"}, "keys must be strings"),
    ({"nested": {"items": [1, {2: 3}]}}, "keys must be strings"),
])
def test_save_rejects_non_json_metadata(tmp_path, metadata, fragment):
    with pytest.raises(CheckpointError, match=fragment) as raised:
        save_checkpoint(tmp_path / "run.npz", small_network(), metadata=metadata)

    assert str(tmp_path / "run.npz") in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_non_dict_history(tmp_path):
    with pytest.raises(CheckpointError, match="history record"):
        save_checkpoint(tmp_path / "run.npz", small_network(), history=[0.5])


# -- damaged and invalid files ----------------------------------------------------


def test_missing_file_raises(tmp_path):
    path = tmp_path / "absent.npz"

    with pytest.raises(CheckpointError, match="does not exist") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_folder_path_raises(tmp_path):
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)


def test_single_npy_file_raises(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as stream:
        np.save(stream, np.zeros(3))

    with pytest.raises(CheckpointError, match="a NumPy .npy file") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_truncated_file_raises(tmp_path):
    original = saved_checkpoint(tmp_path).read_bytes()
    size = len(original)
    lengths = [0, 1, 3, 30, 100, 1000, size // 3, size // 2, size - 200, size - 22, size - 1]

    for length in lengths:
        truncated = tmp_path / f"cut_{length}.npz"
        truncated.write_bytes(original[:length])
        with pytest.raises(CheckpointError) as raised:
            load_checkpoint(truncated)
        assert str(truncated) in str(raised.value), f"length {length}"


def test_flipped_byte_in_weights_raises(tmp_path):
    path = saved_checkpoint(tmp_path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weights_1.npy")
    raw = bytearray(path.read_bytes())
    # A ZIP local file header is 30 bytes plus the name and the extra field.
    # The .npy header after it is 128 bytes, so offset 300 lies inside the float data.
    name_length = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    position = info.header_offset + 30 + name_length + extra_length + 300
    raw[position] ^= 0x40
    path.write_bytes(bytes(raw))

    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_replaced_array_with_old_digest_raises(tmp_path):
    members = read_members(saved_checkpoint(tmp_path))
    weights = members["weights_2"].copy()
    weights[0, 0] += 1e-9
    members["weights_2"] = weights
    path = write_members(tmp_path / "tampered.npz", members)

    with pytest.raises(CheckpointError, match="SHA-256 of weights_2") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_replaced_row_classes_raises(tmp_path):
    members = read_members(saved_checkpoint(tmp_path))
    members["row_classes"] = np.array([0, 1, 2], dtype=np.int64)
    path = write_members(tmp_path / "tampered.npz", members)

    with pytest.raises(CheckpointError, match="SHA-256 of row_classes"):
        load_checkpoint(path)


@pytest.mark.parametrize("member", ["weights_1", "weights_3", "row_classes", "metadata_json"])
def test_missing_member_raises(tmp_path, member):
    members = read_members(saved_checkpoint(tmp_path))
    del members[member]
    path = write_members(tmp_path / "incomplete.npz", members)

    with pytest.raises(CheckpointError, match=member) as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_extra_weight_member_raises(tmp_path):
    members = read_members(saved_checkpoint(tmp_path))
    members["weights_4"] = np.zeros((2, 3))
    path = write_members(tmp_path / "extra.npz", members)

    with pytest.raises(CheckpointError, match="weights_4"):
        load_checkpoint(path)


def change_document(tmp_path: Path, change) -> Path:
    """Write a copy of a valid checkpoint whose metadata JSON went through ``change``."""
    members = read_members(saved_checkpoint(tmp_path))
    document = read_document(members)
    change(document)
    members["metadata_json"] = encode_document(document)
    return write_members(tmp_path / "changed.npz", members)


def test_newer_format_version_raises(tmp_path):
    path = change_document(tmp_path, lambda d: d.update(format_version=FORMAT_VERSION + 1))

    with pytest.raises(CheckpointError, match="Update S4NN Explorer") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)
    assert f"format version {FORMAT_VERSION + 1}" in str(raised.value)


@pytest.mark.parametrize("version", [0, "1", None, True])
def test_invalid_format_version_raises(tmp_path, version):
    path = change_document(tmp_path, lambda d: d.update(format_version=version))

    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(path)


def test_wrong_format_name_raises(tmp_path):
    path = change_document(tmp_path, lambda d: d.update(format="something else"))

    with pytest.raises(CheckpointError, match="something else") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


@pytest.mark.parametrize("key", ["history", "sha256", "network_config"])
def test_missing_json_key_raises(tmp_path, key):
    path = change_document(tmp_path, lambda d: d.pop(key))

    with pytest.raises(CheckpointError, match=key):
        load_checkpoint(path)


@pytest.mark.parametrize("text", [b'{"format": ', b"\xff\xfe not utf-8", b'{"format": NaN}', b"[1, 2]"])
def test_invalid_json_raises(tmp_path, text):
    members = read_members(saved_checkpoint(tmp_path))
    members["metadata_json"] = np.frombuffer(text, dtype=np.uint8)
    path = write_members(tmp_path / "bad_json.npz", members)

    with pytest.raises(CheckpointError, match="metadata_json") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_invalid_settings_raise(tmp_path):
    path = change_document(tmp_path, lambda d: d["settings"]["learning"].update(gamma=-1))

    with pytest.raises(CheckpointError, match="invalid settings: gamma") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_invalid_network_config_raises(tmp_path):
    path = change_document(tmp_path, lambda d: d["network_config"].update(layer_sizes=5))

    with pytest.raises(CheckpointError, match="invalid settings") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_settings_of_other_network_raise(tmp_path):
    path = change_document(tmp_path, lambda d: d["settings"]["network"].update(t_max=T_MAX + 1))

    with pytest.raises(CheckpointError, match="t_max 65"):
        load_checkpoint(path)


def rewrite_array(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    """Replace one array and record its correct digest, so only the shape or dtype check can fail."""
    members = read_members(saved_checkpoint(tmp_path))
    document = read_document(members)
    members[name] = array
    document["sha256"][name] = sha256_hex(array)
    members["metadata_json"] = encode_document(document)
    return write_members(tmp_path / "rewritten.npz", members)


def test_wrong_shape_raises(tmp_path):
    path = rewrite_array(tmp_path, "weights_1", np.ones((20, 7)))

    with pytest.raises(CheckpointError, match=r"weights_1 has shape \(20, 7\)") as raised:
        load_checkpoint(path)

    assert str(path) in str(raised.value)


def test_wrong_dtype_raises(tmp_path):
    path = rewrite_array(tmp_path, "weights_2", np.ones((5, 7), dtype=np.float32))

    with pytest.raises(CheckpointError, match="dtype <f4"):
        load_checkpoint(path)


def test_big_endian_weights_raise(tmp_path):
    path = rewrite_array(tmp_path, "weights_2", np.ones((5, 7), dtype=">f8"))

    with pytest.raises(CheckpointError, match="dtype >f8"):
        load_checkpoint(path)


def test_non_finite_weights_raise(tmp_path):
    weights = np.ones((3, 5))
    weights[1, 2] = np.inf
    path = rewrite_array(tmp_path, "weights_3", weights)

    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(path)


def test_oversized_member_raises(tmp_path):
    # row_classes needs 3 × 8 = 24 bytes. 20,000 int64 values (160,000 bytes)
    # exceed that plus the 64 KiB allowance for the .npy header.
    path = rewrite_array(tmp_path, "row_classes", np.arange(20_000, dtype=np.int64))

    with pytest.raises(CheckpointError, match="row_classes has .* bytes"):
        load_checkpoint(path)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd to count open files")
def test_load_leaves_no_open_files(tmp_path):
    good = saved_checkpoint(tmp_path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-50])
    tampered = change_document(tmp_path, lambda d: d.update(format_version=99))
    before = open_descriptor_count()
    # Keeping the exceptions keeps their tracebacks alive, so a handle left
    # open on an error path is not closed by the garbage collector before the count.
    errors = []

    for _ in range(5):
        load_checkpoint(good)
        for bad in (truncated, tampered):
            with pytest.raises(CheckpointError) as raised:
                load_checkpoint(bad)
            errors.append(raised.value)

    assert len(errors) == 10
    assert open_descriptor_count() == before


# -- reference weights import -----------------------------------------------------


def test_reference_import_shapes_and_rows():
    require_shared(REFERENCE_WEIGHTS)

    network = import_reference_weights(REFERENCE_WEIGHTS)
    hidden, output = network.weights()

    assert hidden.shape == (400, 784)
    assert output.shape == (10, 400)
    assert network.config.layer_sizes == (784, 400, 10)
    assert network.config.t_max == 256
    assert network.config.thresholds == (100.0, 100.0)
    assert network.row_classes.tolist() == [4, 1, 0, 7, 9, 2, 3, 5, 8, 6]
    assert network.class_names == tuple(str(d) for d in range(10))
    assert np.all(np.isfinite(hidden))


def test_reference_forward_matches_expected_times():
    require_shared(REFERENCE_WEIGHTS, EXPECTED_TIMES, MNIST_TEST_IMAGES)
    network = import_reference_weights(REFERENCE_WEIGHTS)
    images = read_mnist_test_images(100)
    with np.load(EXPECTED_TIMES) as expected:
        expected_hidden = expected["hidden"][:100]
        expected_output = expected["output"][:100]

    result = network.forward(network.encode(images))

    assert np.array_equal(result.times[1], expected_hidden)
    assert np.array_equal(result.times[2], expected_output)


def test_reference_survives_checkpoint_round_trip(tmp_path):
    require_shared(REFERENCE_WEIGHTS)
    network = import_reference_weights(REFERENCE_WEIGHTS)

    loaded = load_checkpoint(save_checkpoint(tmp_path / "reference.npz", network)).network

    assert loaded.row_classes.tolist() == list(REFERENCE_CLASS_ORDER)
    assert loaded.weights()[0].tobytes() == network.weights()[0].tobytes()
    assert loaded.weights()[1].tobytes() == network.weights()[1].tobytes()


def random_reference_arrays(seed=3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(400, 28, 28)), rng.normal(size=(10, 400, 1))


def save_object_array(path: Path, items) -> Path:
    array = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        array[index] = item
    with open(path, "wb") as stream:
        np.save(stream, array, allow_pickle=True)
    return path


def test_plain_numpy_object_array_imports(tmp_path):
    hidden, output = random_reference_arrays()
    path = save_object_array(tmp_path / "plain.npy", [hidden, output])

    network = import_reference_weights(path)

    assert np.array_equal(network.weights()[0], hidden.reshape(400, 784))
    assert np.array_equal(network.weights()[1], output[:, :, 0])
    assert network.weights()[0][3, 28 * 5 + 7] == hidden[3, 5, 7]


def test_cupy_pickle_imports_without_cupy(tmp_path, monkeypatch):
    hidden, output = random_reference_arrays()

    # A stand-in CuPy module, present only while pickling, gives the file the
    # same globals as one written with CuPy: cupy.core.core.array(host_array).
    fake_core = types.ModuleType("cupy.core.core")

    class FakeCupyArray:
        def __init__(self, host):
            self.host = host

        def __reduce__(self):
            return fake_core.array, (self.host,)

    def array(host):
        return FakeCupyArray(host)

    array.__module__ = "cupy.core.core"
    array.__qualname__ = "array"
    fake_core.array = array
    for name, module in [("cupy", types.ModuleType("cupy")), ("cupy.core", types.ModuleType("cupy.core")),
                         ("cupy.core.core", fake_core)]:
        monkeypatch.setitem(sys.modules, name, module)
    path = save_object_array(tmp_path / "cupy.npy", [FakeCupyArray(hidden), FakeCupyArray(output)])
    for name in ("cupy", "cupy.core", "cupy.core.core"):
        monkeypatch.delitem(sys.modules, name)

    assert b"cupy.core.core" in path.read_bytes()
    network = import_reference_weights(path)
    assert np.array_equal(network.weights()[0], hidden.reshape(400, 784))
    assert np.array_equal(network.weights()[1], output.reshape(10, 400))


def test_import_rejects_os_system(tmp_path):
    marker = tmp_path / "exploited"
    # Protocol 0 opcodes: push the global os.system, a one-string tuple, then call it.
    payload = b"cos\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR."
    path = tmp_path / "hostile.npy"
    path.write_bytes(npy_header_bytes() + payload)

    with pytest.raises(CheckpointError, match="refers to os.system, which is not allowed") as raised:
        import_reference_weights(path)

    assert str(path) in str(raised.value)
    assert not marker.exists()


def test_import_rejects_reduce_payload(tmp_path):
    marker = tmp_path / "exploited"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "hostile.npy"
    path.write_bytes(npy_header_bytes() + pickle.dumps([Payload()], protocol=4))

    with pytest.raises(CheckpointError, match="not allowed"):
        import_reference_weights(path)

    assert not marker.exists()


@pytest.mark.parametrize("items, fragment", [
    ([np.zeros((400, 784)), np.zeros((10, 400, 1))], r"W\[0\] has shape \(400, 784\)"),
    ([np.zeros((400, 28, 28)), np.zeros((10, 400))], r"W\[1\] has shape \(10, 400\)"),
    ([np.zeros((400, 28, 28), dtype=np.int64), np.zeros((10, 400, 1))], "floating-point"),
    ([np.full((400, 28, 28), np.nan), np.zeros((10, 400, 1))], "NaN or infinite"),
    (["text", np.zeros((10, 400, 1))], "W\\[0\\] is a str"),
])
def test_import_rejects_invalid_arrays(tmp_path, items, fragment):
    path = save_object_array(tmp_path / "invalid.npy", items)

    with pytest.raises(CheckpointError, match=fragment) as raised:
        import_reference_weights(path)

    assert str(path) in str(raised.value)


def test_import_rejects_float_npy(tmp_path):
    path = tmp_path / "float.npy"
    np.save(path, np.zeros((2,)))

    with pytest.raises(CheckpointError, match="expected an object array"):
        import_reference_weights(path)


@pytest.mark.parametrize("content", [b"", b"not a numpy file at all", None])
def test_import_rejects_damaged_file(tmp_path, content):
    path = tmp_path / "damaged.npy"
    if content is None:
        hidden, output = random_reference_arrays()
        whole = save_object_array(tmp_path / "whole.npy", [hidden, output]).read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)

    with pytest.raises(CheckpointError) as raised:
        import_reference_weights(path)

    assert str(path) in str(raised.value)


def test_import_missing_file_raises(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        import_reference_weights(tmp_path / "weights_pretrained.npy")


def test_text_file_raises_not_zip(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")

    with pytest.raises(CheckpointError, match="not a ZIP archive") as raised:
        load_checkpoint(path)
    assert str(path) in str(raised.value)


def test_deeply_nested_metadata_raises(tmp_path):
    # JSON nested 100,000 levels deep exceeds Python's recursion limit while parsing.
    path = tmp_path / "deep.npz"
    deep = "[" * 100_000 + "]" * 100_000
    text = '{"format": "s4nn-explorer checkpoint", "metadata": ' + deep + "}"
    with open(path, "wb") as stream:
        np.savez(stream, metadata_json=np.frombuffer(text.encode(), dtype=np.uint8))

    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)
    assert str(path) in str(raised.value)


def test_non_array_member_raises(tmp_path):
    import zipfile as zip_module

    path = tmp_path / "raw.npz"
    with zip_module.ZipFile(path, "w") as archive:
        archive.writestr("metadata_json", b"not an npy member")

    with pytest.raises(CheckpointError, match="not a NumPy array|missing"):
        load_checkpoint(path)
