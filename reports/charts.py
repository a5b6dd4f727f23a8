"""Charts for the PDF reports, drawn with reportlab's own graphics (no plotting library).

Each function takes plain numbers and returns a ``Drawing`` a platypus story can hold.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot, ScatterPlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors

INK = colors.HexColor("#1f2937")
ACCENT = colors.HexColor("#2563eb")
WARM = colors.HexColor("#ea580c")
GREEN = colors.HexColor("#16a34a")
GREY = colors.HexColor("#9ca3af")
SERIES_COLOURS = (ACCENT, WARM, GREEN, GREY)


def _thousands(value: float) -> str:
    """Axis label in thousands of dollars: ``$125k``."""
    return f"${value / 1000:,.0f}k"


def _dollars(value: float) -> str:
    return f"${value:,.0f}"


def _padded(low: float, high: float, share: float = 0.08) -> tuple[float, float]:
    span = high - low or abs(high) or 1.0
    return low - span * share, high + span * share


def comps_map(
    *,
    subject: tuple[float, float] | None,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    width: float = 460,
    height: float = 230,
) -> Drawing:
    """A map-like scatter: the subject and its comps by longitude (x) and latitude (y).

    ``series`` holds (name, [(latitude, longitude), ...]); the subject is drawn as a star.
    """
    drawing = Drawing(width, height)
    named = [(name, [(lon, lat) for lat, lon in points]) for name, points in series if points]
    if subject is not None:
        named.append(("subject", [(subject[1], subject[0])]))
    if not named:
        drawing.add(String(10, height / 2, "No located comps to map.", fontSize=9))
        return drawing
    plot = ScatterPlot()
    plot.x, plot.y = 50, 40
    plot.width, plot.height = width - 170, height - 60
    plot.data = [points for _, points in named]
    xs = [x for _, points in named for x, _ in points]
    ys = [y for _, points in named for _, y in points]
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = _padded(min(xs), max(xs))
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = _padded(min(ys), max(ys))
    plot.xValueAxis.labelTextFormat = "%.3f"
    plot.yValueAxis.labelTextFormat = "%.3f"
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 7
    plot.xValueAxis.labels.angle = 30
    plot.xValueAxis.labels.dy = -8
    plot.xLabel = "longitude"
    plot.yLabel = "latitude"
    plot.lineLabelFormat = None  # no value printed beside each point
    plot.outerBorderOn = 0
    plot.background = None
    marker_kinds = ("FilledCircle", "FilledSquare", "FilledDiamond", "FilledTriangle")
    for index, (name, _) in enumerate(named):
        line = plot.lines[index]
        if name == "subject":
            line.symbol = makeMarker("FilledStarFive", size=11)
            line.symbol.fillColor = colors.red
        else:
            line.symbol = makeMarker(marker_kinds[index % len(marker_kinds)], size=5)
            line.symbol.fillColor = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        line.strokeColor = None
    drawing.add(plot)
    legend = Legend()
    legend.x, legend.y = width - 110, height - 30
    legend.fontSize = 8
    legend.alignment = "right"
    legend.colorNamePairs = [
        (colors.red if name == "subject" else SERIES_COLOURS[i % len(SERIES_COLOURS)], name)
        for i, (name, _) in enumerate(named)
    ]
    drawing.add(legend)
    return drawing


def bar_chart(
    *,
    labels: Sequence[str],
    values: Sequence[float],
    width: float = 460,
    height: float = 170,
    money_axis: bool = True,
) -> Drawing:
    """A vertical bar chart of a few named amounts (rent vs. FMR, for example)."""
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 55, 30
    chart.width, chart.height = width - 80, height - 50
    chart.data = [list(values)]
    chart.categoryAxis.categoryNames = list(labels)
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max(values or [1]) * 1.15 or 1
    if money_axis:
        chart.valueAxis.labelTextFormat = _dollars
    chart.bars[0].fillColor = ACCENT
    chart.barLabelFormat = _dollars if money_axis else "%s"
    chart.barLabels.fontSize = 7
    chart.barLabels.nudge = 7
    drawing.add(chart)
    return drawing


def projection_chart(
    *,
    years: Sequence[int],
    series: Sequence[tuple[str, Sequence[float]]],
    width: float = 460,
    height: float = 190,
) -> Drawing:
    """A line chart of yearly amounts (value, loan balance, equity) over a hold."""
    drawing = Drawing(width, height)
    plot = LinePlot()
    plot.x, plot.y = 55, 30
    plot.width, plot.height = width - 170, height - 45
    plot.data = [list(zip(years, values, strict=True)) for _, values in series]
    every = [v for _, values in series for v in values]
    plot.yValueAxis.valueMin = min(0.0, min(every or [0.0]))
    plot.yValueAxis.valueMax = max(every or [1.0]) * 1.1 or 1.0
    plot.yValueAxis.labelTextFormat = _thousands
    plot.yValueAxis.labels.fontSize = 7
    plot.xValueAxis.valueMin = min(years)
    plot.xValueAxis.valueMax = max(years)
    plot.xValueAxis.valueSteps = list(years)
    plot.xValueAxis.labelTextFormat = "year %d"
    plot.xValueAxis.labels.fontSize = 7
    for index in range(len(series)):
        plot.lines[index].strokeColor = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        plot.lines[index].strokeWidth = 1.5
        plot.lines[index].symbol = makeMarker("FilledCircle", size=3)
        plot.lines[index].symbol.fillColor = SERIES_COLOURS[index % len(SERIES_COLOURS)]
    drawing.add(plot)
    legend = Legend()
    legend.x, legend.y = width - 105, height - 25
    legend.fontSize = 8
    legend.alignment = "right"
    legend.colorNamePairs = [
        (SERIES_COLOURS[i % len(SERIES_COLOURS)], name) for i, (name, _) in enumerate(series)
    ]
    drawing.add(legend)
    return drawing
