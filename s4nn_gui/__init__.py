"""S4NN Explorer's window: PyQt6 and pyqtgraph views over :mod:`s4nn_engine`.

Start it with ``s4nn-explorer`` (:func:`s4nn_gui.app.main`). The engine never
imports this package.
"""
