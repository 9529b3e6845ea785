"""The runs folder: one subfolder per training run, with its settings and epoch history.

Layout::

    <root>/
        20250101-120000-3fa2c1/
            run.json        settings, seed, dataset name and checksum, history
            checkpoints/    optional; a trainer's ``checkpoint_dir``

``run.json`` is rewritten after every epoch through a temporary file and
``os.replace``, so a reader sees either the old or the new file, never a partial
one. The root is, in order of precedence, the ``root`` argument, the
``S4NN_RUNS_DIR`` environment variable, or ``<user data dir>/s4nn-explorer/runs``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from s4nn_engine.config import Settings
from s4nn_engine.files import write_text_atomically

logger = logging.getLogger(__name__)

RUNS_DIR_ENV = "S4NN_RUNS_DIR"
RUN_FILE = "run.json"
CHECKPOINT_FOLDER = "checkpoints"
FORMAT_VERSION = 1


class RunStoreError(Exception):
    """A run that is missing or whose ``run.json`` is unreadable or invalid."""


def default_runs_dir() -> Path:
    """Return ``$S4NN_RUNS_DIR`` if set, else ``<user data dir>/s4nn-explorer/runs``."""
    configured = os.environ.get(RUNS_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("s4nn-explorer")) / "runs"


@dataclass
class RunRecord:
    """One run's description and epoch history, as stored in its ``run.json``.

    ``history`` contains the trainer's epoch record dicts in order. ``checkpoints``
    lists checkpoint files, relative to the run folder when they lie inside it.
    ``status`` is "running", or a trainer's finish reason ("completed",
    "stopped", "error").
    """

    run_id: str
    path: Path
    created: str
    settings: dict
    dataset_name: str
    dataset_checksum: str
    name: str = ""
    seed: int | None = None
    status: str = "running"
    message: str = ""
    history: list[dict] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    # -- derived ---------------------------------------------------------------

    @property
    def title(self) -> str:
        """The run's name, or its id when it has none."""
        return self.name or self.run_id

    @property
    def checkpoint_dir(self) -> Path:
        """Folder for this run's checkpoints, created with the run (pass it as the trainer's ``checkpoint_dir``)."""
        return self.path / CHECKPOINT_FOLDER

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def best_validation_accuracy(self) -> float | None:
        """Maximum ``validation_accuracy`` over the history, or None when no epoch has one."""
        values = [record.get("validation_accuracy") for record in self.history]
        values = [value for value in values if isinstance(value, (int, float)) and math.isfinite(value)]
        return max(values) if values else None

    def settings_object(self) -> Settings:
        """Rebuild the run's :class:`Settings` (raises ``SettingsError`` when invalid)."""
        return Settings.from_dict(self.settings)

    # -- changes (each one rewrites run.json) -----------------------------------

    def append_epoch(self, record: Mapping[str, Any], checkpoints: Iterable[str | os.PathLike] = ()) -> None:
        """Add one epoch record (a trainer's ``EpochReport.record``) and save."""
        self.history.append(_json_safe(dict(record)))
        for checkpoint in checkpoints:
            self._remember_checkpoint(checkpoint)
        self.save()

    def finish(self, reason: str, message: str = "") -> None:
        """Store how the run ended ("completed", "stopped" or "error") and save."""
        self.status = str(reason)
        self.message = str(message)
        self.save()

    def save(self) -> None:
        """Write ``run.json`` atomically (temporary file in the same folder, then ``os.replace``)."""
        self.path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        write_text_atomically(self.path / RUN_FILE, text)

    def _remember_checkpoint(self, checkpoint: str | os.PathLike) -> None:
        path = Path(checkpoint)
        try:
            stored = str(path.resolve().relative_to(self.path.resolve()))
        except ValueError:
            stored = str(path)
        if stored not in self.checkpoints:
            self.checkpoints.append(stored)

    # -- JSON ---------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "run_id": self.run_id,
            "name": self.name,
            "created": self.created,
            "status": self.status,
            "message": self.message,
            "dataset_name": self.dataset_name,
            "dataset_checksum": self.dataset_checksum,
            "seed": self.seed,
            "settings": self.settings,
            "history": self.history,
            "checkpoints": self.checkpoints,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> "RunRecord":
        """Build a record from parsed ``run.json`` content; raises :class:`RunStoreError` when invalid."""
        if not isinstance(data, dict):
            raise RunStoreError(f"{path / RUN_FILE} must contain a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT_VERSION:
            raise RunStoreError(
                f"{path / RUN_FILE} has format {data.get('format')!r}; this version reads format {FORMAT_VERSION}"
            )
        required = {"run_id": str, "created": str, "settings": dict, "dataset_name": str,
                    "dataset_checksum": str, "history": list}
        for key, kind in required.items():
            if not isinstance(data.get(key), kind):
                raise RunStoreError(f"{path / RUN_FILE}: {key!r} is missing or not a {kind.__name__}")
        if not all(isinstance(record, dict) for record in data["history"]):
            raise RunStoreError(f"{path / RUN_FILE}: every history entry must be a JSON object")
        return cls(
            run_id=data["run_id"],
            path=path,
            created=data["created"],
            settings=data["settings"],
            dataset_name=data["dataset_name"],
            dataset_checksum=data["dataset_checksum"],
            name=str(data.get("name") or ""),
            seed=data.get("seed"),
            status=str(data.get("status") or "running"),
            message=str(data.get("message") or ""),
            history=list(data["history"]),
            checkpoints=[str(item) for item in data.get("checkpoints") or []],
            metadata=dict(data.get("metadata") or {}),
        )


class RunStore:
    """The runs folder: creates, lists and loads runs.

    ``root`` defaults to :func:`default_runs_dir`; the folder is created on the
    first :meth:`create`.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_runs_dir()

    def reserve(self) -> Path:
        """Create an empty run folder with its ``checkpoints/`` subfolder and return the folder's path.

        A trainer can write its checkpoints into ``path / "checkpoints"`` before the
        run has anything to record; :meth:`create` with ``folder=path`` then writes
        the run's ``run.json`` there. :meth:`list_runs` skips a folder without
        ``run.json``, and :meth:`release` removes one that stayed empty.
        """
        path = self._new_folder(dt.datetime.now(dt.timezone.utc))
        (path / CHECKPOINT_FOLDER).mkdir()
        return path

    def release(self, folder: str | os.PathLike) -> bool:
        """Remove a reserved run folder that contains nothing but an empty ``checkpoints/``; return True if removed."""
        path = Path(folder)
        checkpoints = path / CHECKPOINT_FOLDER
        try:
            if any(entry.name != CHECKPOINT_FOLDER for entry in path.iterdir()) or any(checkpoints.iterdir()):
                return False
            checkpoints.rmdir()
            path.rmdir()
        except OSError as error:
            logger.warning("could not remove the unused run folder %s: %s", path, error)
            return False
        return True

    def create(self, settings: Settings, dataset_name: str, dataset_checksum: str, *, name: str = "",
               metadata: Mapping[str, Any] | None = None, folder: str | os.PathLike | None = None) -> RunRecord:
        """Start a run and write its ``run.json``.

        The run gets a new folder named ``<UTC timestamp>-<6 hex digits>``, or
        ``folder``, a folder from :meth:`reserve` that has no ``run.json`` yet.
        """
        now = dt.datetime.now(dt.timezone.utc)
        if folder is None:
            path = self._new_folder(now)
        else:
            path = Path(folder)
            if path.parent.resolve() != self.root.resolve() or not path.is_dir():
                raise RunStoreError(f"{path} is not a reserved run folder in {self.root}; use RunStore.reserve()")
            if (path / RUN_FILE).exists():
                raise RunStoreError(f"{path} already contains a run ({RUN_FILE}); reserve a new folder")
        run_id = path.name

        record = RunRecord(
            run_id=run_id,
            path=path,
            created=now.isoformat(timespec="seconds"),
            settings=settings.to_dict(),
            dataset_name=str(dataset_name),
            dataset_checksum=str(dataset_checksum),
            name=str(name),
            seed=settings.training.seed,
            metadata=_json_safe(dict(metadata or {})),
        )
        record.checkpoint_dir.mkdir(exist_ok=True)
        record.save()
        logger.info("run %s created in %s", run_id, self.root)
        return record

    def _new_folder(self, now: dt.datetime) -> Path:
        """Create and return a run folder named ``<UTC timestamp>-<6 hex digits>`` that did not exist."""
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            path = self.root / f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
        raise RunStoreError(f"could not create a new run folder in {self.root}; every id tried exists")

    def load(self, run_id: str) -> RunRecord:
        """Read one run; raises :class:`RunStoreError` when it is missing or its ``run.json`` is invalid."""
        path = self.root / run_id
        file = path / RUN_FILE
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError as error:
            raise RunStoreError(f"run {run_id!r} not found: {file} does not exist") from error
        except UnicodeDecodeError as error:
            raise RunStoreError(f"run {run_id!r}: {file} is not UTF-8 text ({error})") from error
        except OSError as error:
            raise RunStoreError(f"run {run_id!r}: reading {file} failed: {error}") from error
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise RunStoreError(f"run {run_id!r}: {file} is not valid JSON ({error})") from error
        try:
            return RunRecord.from_dict(data, path)
        except RunStoreError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as error:
            # Values of the wrong type, such as a string where an object belongs.
            raise RunStoreError(
                f"run {run_id!r}: {file} has an invalid structure ({type(error).__name__}: {error})"
            ) from error

    def list_runs(self) -> list[RunRecord]:
        """Return every readable run, oldest first; an unreadable ``run.json`` is skipped with a warning."""
        if not self.root.is_dir():
            return []
        runs = []
        for path in sorted(self.root.iterdir()):
            if not path.is_dir() or not (path / RUN_FILE).exists():
                continue
            try:
                runs.append(self.load(path.name))
            except RunStoreError as error:
                logger.warning("skipping run folder %s: %s", path, error)
        runs.sort(key=lambda run: (run.created, run.run_id))
        return runs


def _json_safe(value: Any) -> Any:
    """Convert NumPy scalars and arrays to plain JSON values, and NaN or infinity to None."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
