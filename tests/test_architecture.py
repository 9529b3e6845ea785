"""The engine never imports Qt."""

from __future__ import annotations

import subprocess
import sys


def test_engine_imports_no_qt():
    code = (
        "import sys\n"
        "import s4nn_engine, s4nn_engine.cli, s4nn_engine.training, s4nn_engine.checkpoint, "
        "s4nn_engine.datasets, s4nn_engine.benchmark\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'PyQt5', 'PySide6', 'pyqtgraph', 's4nn_gui')]\n"
        "print(','.join(loaded))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == ""
