"""Messages about datasets the window cannot use: what to do first, the technical detail after it."""

from __future__ import annotations

from s4nn_engine.datasets import IDX_SPEC_PREFIX, REMOTE_DATASETS, default_cache_dir

TRAIN_FILES = "train-images-idx3-ubyte and train-labels-idx1-ubyte"
TEST_FILES = "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte"
DISPLAY_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def has_training_split(splits) -> bool:
    train = getattr(splits, "train", None)
    return train is not None and len(train) > 0


def missing_training_split_message(spec: str) -> str:
    """Explain that ``spec`` has no training files, which the window needs, and how to use its test files."""
    return (
        f"{spec} has no training files ({TRAIN_FILES}, each optionally .gz). The window needs them to "
        f"train a network. To measure a trained network on this dataset's test files, run "
        f"s4nn evaluate --checkpoint FILE --dataset {spec}"
    )


def load_failure_message(spec: str, error: object) -> str:
    """Return how to make ``spec`` loadable, then the loader's error as the detail."""
    key = spec.strip().lower()
    remote = REMOTE_DATASETS.get(key)
    if remote is not None:
        folder = default_cache_dir() / remote.name
        names = ", ".join(item.name for item in remote.files)
        instruction = (
            f"To use {DISPLAY_NAMES.get(remote.name, remote.name)} without an internet connection, copy the "
            f"four files {names} into "
            f"{folder}, or choose \"IDX folder…\" in Dataset and pick a folder that contains them."
        )
    elif key.startswith(IDX_SPEC_PREFIX):
        instruction = (
            f"Choose a folder that contains {TRAIN_FILES} (each optionally .gz), and {TEST_FILES} "
            "for a test split."
        )
    else:
        instruction = "Choose the bundled digits, MNIST, Fashion-MNIST or a folder of IDX files in Dataset."
    return f"{instruction}\n\nDetails: {error}"
