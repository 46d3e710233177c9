"""The ``[[expect]]`` tables: one model per check (judged in :mod:`.expect`)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from .types import Positive, Seconds, Selector, Strict

At = Union[Literal["end"], Seconds]


class _Expect(Strict):
    name: str | None = None
    nodes: Selector = "*"
    from_: Seconds = Field(0.0, alias="from")
    to: Seconds | None = None


class ExpectAgree(_Expect):
    """All live nodes (each island during a partition) agree within ``within`` s of every change."""

    check: Literal["agree"]
    within: Positive = 2.0
    fields: list[Literal["gridnet", "price", "carbon", "live"]] = Field(default_factory=lambda: ["gridnet", "price"])
    tolerance_kw: Annotated[float, Field(ge=0)] = 0.0
    price_tolerance: Annotated[int, Field(ge=0)] = 0


class ExpectIslands(_Expect):
    """During a partition each side counts only itself and agrees on its own net and price; after the heal, all agree.

    ``within``: how long islands may take to form, and the whole to merge
    again (default from the nodes' TTL); ``agree_within``: the longest
    disagreement inside an island, as for ``agree``.
    """

    check: Literal["islands"]
    groups: list[Selector] | None = None
    within: Positive | None = None
    agree_within: Positive = 2.0
    tolerance_kw: Annotated[float, Field(ge=0)] = 0.0
    price_tolerance: Annotated[int, Field(ge=0)] = 0


class ExpectGridnet(_Expect):
    """Every node reports a grid net of ``equals_kw`` at ``at``."""

    check: Literal["gridnet"]
    equals_kw: float
    tolerance_kw: Annotated[float, Field(ge=0)] = 0.001
    at: At = "end"


class ExpectImbalance(_Expect):
    """The RMS of the grid net (as the nodes see it) stays below ``below_kw``."""

    check: Literal["imbalance_rms"]
    below_kw: Annotated[float, Field(gt=0)]


class ExpectAcknowledged(_Expect):
    """Every dispatch sent (or the one named) is acknowledged by its whole audience."""

    check: Literal["acknowledged"]
    dispatch: str | None = None


class ExpectLive(_Expect):
    """Every node counts ``count`` live nodes at ``at`` (default: the nodes running then)."""

    check: Literal["live"]
    count: Annotated[int, Field(ge=0)] | None = None
    at: At = "end"


class ExpectRange(_Expect):
    """Every node's price (or carbon intensity) stays within ``between``."""

    check: Literal["price", "carbon"]
    between: tuple[float, float]


Expectation = Annotated[
    Union[ExpectAgree, ExpectIslands, ExpectGridnet, ExpectImbalance, ExpectAcknowledged, ExpectLive, ExpectRange],
    Field(discriminator="check"),
]



#: The ``check`` names, in the order the docs list them.
CHECK_TAGS = ("agree", "islands", "gridnet", "imbalance_rms", "acknowledged", "live", "price", "carbon")
