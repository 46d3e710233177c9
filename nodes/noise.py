"""Reproducible noise that is a pure function of (seed, stream, time).

Why not ``random.Random`` stepped along with the simulation: two nodes that start
at different moments, or one node that restarts, must still see the same weather
at the same instant. So every random number is derived by hashing
``(seed, stream, index)``, and a time-correlated series is defined directly at
each time step instead of being advanced from the previous one.

The correlated series is a *windowed AR(1)*: at anchor ``n`` (every ``step_s``)

    x[n] = c * sum_{j < J} phi**j * e[n - j],   phi = exp(-step_s / tau_s)

with independent standard normal ``e``; ``c`` makes ``x`` unit-variance and the
lag-1 correlation is ``phi`` up to ``phi**J`` (the window drops under 0.1 %).
Between anchors the value is interpolated linearly and rescaled so the variance
stays 1, which keeps the marginal distribution standard normal everywhere.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

_STANDARD_NORMAL = NormalDist()
# Tail of the windowed sum we accept to drop: phi**J <= this.
_WINDOW_TAIL = 1e-3
_MAX_WINDOW = 512


def uniform(seed: int, stream: str, index: int) -> float:
    """A uniform number in the open interval (0, 1) fixed by its arguments."""
    key = f"{seed}|{stream}|{index}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    # 53 bits give every representable double step; +0.5 keeps off 0 and 1.
    return ((int.from_bytes(digest, "big") >> 11) + 0.5) / 2.0**53


def gaussian(seed: int, stream: str, index: int) -> float:
    """A standard normal number fixed by its arguments."""
    return _STANDARD_NORMAL.inv_cdf(uniform(seed, stream, index))


def normal_cdf(z: float) -> float:
    """Standard normal cumulative distribution, used to map a Gaussian to (0, 1)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


@dataclass(frozen=True, slots=True)
class Ar1:
    """A unit-variance Gaussian process with correlation time ``tau_s``.

    ``step_s`` is the anchor spacing; it should be a few times smaller than
    ``tau_s`` (the process is piecewise linear between anchors).
    """

    step_s: float
    tau_s: float

    def __post_init__(self) -> None:
        if not (self.step_s > 0 and self.tau_s > 0):
            raise ValueError("step_s and tau_s must be > 0")

    @property
    def phi(self) -> float:
        """Correlation between consecutive anchors."""
        return math.exp(-self.step_s / self.tau_s)

    def at(self, seed: int, stream: str, t_s: float) -> float:
        """The process value at ``t_s`` seconds for one (seed, stream)."""
        position = t_s / self.step_s
        n = math.floor(position)
        w = position - n
        x0 = _anchor(seed, stream, n, self.phi)
        if w == 0.0:
            return x0
        x1 = _anchor(seed, stream, n + 1, self.phi)
        # Var(w0*x0 + w*x1) = w0^2 + w^2 + 2*w0*w*phi; divide it out.
        w0 = 1.0 - w
        spread = math.sqrt(w0 * w0 + w * w + 2.0 * w0 * w * self.phi)
        return (w0 * x0 + w * x1) / spread


def window_length(phi: float) -> int:
    """Anchors summed per value so the dropped tail ``phi**J`` is negligible."""
    if phi <= 0.0:
        return 1
    return max(1, min(_MAX_WINDOW, math.ceil(math.log(_WINDOW_TAIL) / math.log(phi))))


@lru_cache(maxsize=1 << 15)
def _anchor(seed: int, stream: str, n: int, phi: float) -> float:
    # Memoised: consecutive steps of a node reuse the same two anchors, so a
    # window sum is paid once per anchor, not once per step.
    length = window_length(phi)
    total = 0.0
    weight = 1.0
    for j in range(length):
        total += weight * gaussian(seed, stream, n - j)
        weight *= phi
    norm = math.sqrt((1.0 - phi * phi) / (1.0 - phi ** (2 * length))) if phi > 0 else 1.0
    return norm * total
