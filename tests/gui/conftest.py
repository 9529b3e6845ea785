"""Fixtures of the GUI tests: offscreen Qt, small real splits of the bundled data, windows that clean up.

Every window made by ``make_window`` is closed at teardown, and the teardown fails
the test if its training or dataset thread, or its repaint timer, is still running.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from s4nn_engine.config import make_settings  # noqa: E402
from s4nn_engine.datasets import DataSplits, load_dataset  # noqa: E402

# Small splits keep each test to a few seconds on two cores; the data are real MNIST digits.
TRAIN_SAMPLES = 400
EVALUATION_SAMPLES = 100
WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def runs_folder(tmp_path, monkeypatch):
    """Keep the runs the window records out of the user's data folder (subprocesses inherit it too)."""
    folder = tmp_path / "runs"
    monkeypatch.setenv("S4NN_RUNS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def bundled_splits() -> DataSplits:
    return load_dataset("bundled")


@pytest.fixture(scope="session")
def small_splits(bundled_splits) -> DataSplits:
    return DataSplits(
        train=bundled_splits.train.subset(range(TRAIN_SAMPLES)),
        validation=bundled_splits.validation.subset(range(EVALUATION_SAMPLES)),
        test=bundled_splits.test.subset(range(EVALUATION_SAMPLES)),
    )


@pytest.fixture
def raise_tab(qtbot):
    """Return a function that brings a window's dock to the front of its tab group and waits for it.

    It first waits for the window's default layout, because placing the tool docks
    raises each tab group's plot once more.
    """

    def raise_dock(window, title: str) -> None:
        qtbot.waitUntil(window.is_laid_out, timeout=WAIT_MS)
        dock = window.dock(title)
        dock.raise_()
        qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty(), timeout=WAIT_MS)

    return raise_dock


class WindowRecorder:
    """What a window showed through its dialog hooks: error boxes and unsaved-network questions."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.questions: list[str] = []
        self.answer = "discard"


@pytest.fixture
def make_window(qtbot, small_splits):
    """Return a factory of shown main windows on ``small_splits`` (784-20-10 by default).

    Message boxes and questions are replaced by ``window.recorder``, which records
    them and answers questions with ``recorder.answer`` ("discard" by default).
    """
    from s4nn_gui.main_window import MainWindow

    windows = []

    def factory(hidden=(20,), *, splits=None, epochs=2, chunk_size=100, **settings_kwargs):
        splits = splits or small_splits
        settings = make_settings(hidden, epochs=epochs, chunk_size=chunk_size, **settings_kwargs)
        window = MainWindow(splits, dataset_spec="bundled", settings=settings)
        recorder = WindowRecorder()
        window.recorder = recorder
        window.show_error = lambda title, message: recorder.errors.append((title, message))

        def ask(action: str) -> str:
            recorder.questions.append(action)
            return recorder.answer

        window.ask_unsaved_changes = ask
        qtbot.addWidget(window)
        window.resize(1600, 1000)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield factory

    for window in windows:
        window.recorder.answer = "discard"
        window.close()
        assert not window.worker.is_running, "a training thread outlived its window"
        assert not window.loader.is_running, "a dataset thread outlived its window"
        assert not window._repaint_timer.isActive(), "the repaint timer outlived its window"
