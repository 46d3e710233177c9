"""A device's day as a per-hour bar chart (PNG), from the ``/meter/{device}/hourly`` JSON.

Drawn with matplotlib's object API on the Agg canvas: no pyplot global state,
no display, safe to call from a worker thread.
"""

from __future__ import annotations

import io
from typing import Any

#: Bar colours: within the maximum, over it.
OK_COLOUR, OVER_COLOUR = "#4c78a8", "#e45756"


def render_png(hourly: dict[str, Any], width_in: float = 9.0, height_in: float = 4.0) -> bytes:
    """PNG bytes of 24 bars (OX: hour, OY: kWh) with the device maximum as a line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: imported when drawing
    from matplotlib.figure import Figure

    hours = hourly["hours"]
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(
        [bar["hour"] for bar in hours],
        [bar["kwh"] for bar in hours],
        color=[OVER_COLOUR if bar["exceeded"] else OK_COLOUR for bar in hours],
    )
    axes.axhline(hourly["max_kwh"], color=OVER_COLOUR, linestyle="--", linewidth=1,
                 label=f"max {hourly['max_kwh']:g} kWh")  # fmt: skip
    tallest = max([hourly["max_kwh"], *(bar["kwh"] for bar in hours)])
    axes.set_ylim(0, tallest * 1.15 or 1.0)  # headroom for the legend
    axes.set_xticks(range(24))
    axes.set_xlim(-0.6, 23.6)
    axes.set_xlabel(f"hour ({hourly['timezone']})")
    axes.set_ylabel("energy [kWh]")
    axes.set_title(f"{hourly['device_id']} on {hourly['day']}: {hourly['total_kwh']:.3f} kWh")
    axes.legend(loc="upper right")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
