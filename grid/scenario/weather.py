"""Weather events compiled into one replayed weather series for the whole run.

A node's model reads the weather from a source fixed at start, and a node may
run in another process, so "the wind collapses at 20 s" cannot be a message.
Instead the runner writes, before anything starts, the weather every prosumer
will see: the scenario's synthetic weather (``[weather]``, the same seeded
model the nodes use) sampled every ``resolution`` simulated seconds, with
each weather event's values in force from its simulated instant on. Every
prosumer then replays that CSV (its ``weather_csv`` parameter), so in-process
and process runs see the same weather, and events land exactly when due.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from nodes.weather import SyntheticWeather, location_key

from .format import Event, WeatherSpec
from .plan import PlannedNode

#: Simulated seconds before an event at which the old weather still holds,
#: so linear interpolation turns the change into a step.
EDGE_S = 1.0


def overrides(events: list[Event], start_s: float, speed: float) -> list[tuple[float, float | None, float | None]]:
    """``(simulated instant, wind_ms, cloud)`` in force from each weather event on (None: synthetic)."""
    result: list[tuple[float, float | None, float | None]] = []
    wind: float | None = None
    cloud: float | None = None
    for event in events:
        change = event.weather
        if change is None:
            continue
        if change.reset:
            wind, cloud = None, None
        wind = change.wind_ms if change.wind_ms is not None else wind
        cloud = change.cloud if change.cloud is not None else cloud
        result.append((start_s + event.at * speed, wind, cloud))
    return result


def compile_csv(spec: WeatherSpec, events: list[Event], start_s: float, speed: float, span_s: float) -> str:
    """The CSV text (``timestamp,wind_ms,cloud``) covering ``span_s`` simulated seconds from ``start_s``."""
    base = SyntheticWeather(spec.seed, location_key(spec.latitude, spec.longitude), spec.wind_scale_ms,
                            spec.wind_shape, spec.cloudiness)  # fmt: skip
    changes = overrides(events, start_s, speed)
    times = {start_s + k * spec.resolution for k in range(int(span_s // spec.resolution) + 2)}
    for instant, _, _ in changes:
        times.update((instant - EDGE_S, instant))
    rows = ["timestamp,wind_ms,cloud"]
    for t in sorted(times):
        weather = base.at(t)
        wind, cloud = weather.wind_ms, weather.cloud
        for instant, wind_override, cloud_override in changes:
            if instant <= t:
                wind = wind_override if wind_override is not None else weather.wind_ms
                cloud = cloud_override if cloud_override is not None else weather.cloud
        rows.append(f"{_iso(t)},{wind:.3f},{cloud:.3f}")
    return "\n".join(rows) + "\n"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_weather(nodes: list[PlannedNode], csv_path: str) -> list[PlannedNode]:
    """Prosumers replay ``csv_path`` unless they name their own weather file."""
    return [
        replace(n, model={**n.model, "weather_csv": csv_path})
        if n.kind == "prosumer" and "weather_csv" not in n.model else n
        for n in nodes
    ]  # fmt: skip
