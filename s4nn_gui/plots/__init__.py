"""Live plot widgets that follow a :class:`s4nn_gui.state.SessionState`.

Every widget takes ``(state, parent=None)`` and connects to the state's signals
itself. All of them offer the same three methods:

- ``refresh()`` repaints what changed since the last repaint. The window calls
  it from its timer while training runs; at other times a change repaints at once.
- ``export_table()`` returns ``(header, rows)`` of the data shown, for CSV export.
- ``plot_items()`` returns the pyqtgraph GraphicsLayout to hand to an exporter.

NOTE: pyqtgraph 0.14.0's SVGExporter raises ValueError under Qt 6.11, because it
cannot parse the closed paths ("Z") that Qt writes. ImageExporter works.
"""

from s4nn_gui.plots.accuracy import AccuracyPlot
from s4nn_gui.plots.membrane import MembranePlot
from s4nn_gui.plots.raster import RasterPlot
from s4nn_gui.plots.weights import WeightMapPlot

__all__ = ["AccuracyPlot", "MembranePlot", "RasterPlot", "WeightMapPlot"]
