"""Sibling links between node actors: added and removed on both sides."""

from __future__ import annotations

from grid.network import LocalGrid
from grid.node import NodeConfig
from protocol.messages import RemoveSibling

from .inproc import wait_for


async def siblings(grid: LocalGrid, node_id: str) -> list[str]:
    return [s["id"] for s in (await grid.query(node_id))["siblings"]]


async def test_remove_sibling_unlinks_both_sides() -> None:
    grid = LocalGrid.in_memory()
    try:
        for i in "123":
            await grid.add(NodeConfig(id=i, name=f"n{i}", host=f"n{i}", port=1))
        grid.link("1", "2")
        grid.link("2", "3")

        async def linked() -> bool:
            return await siblings(grid, "2") == ["1", "3"]

        await wait_for(linked)
        grid.tell("1", RemoveSibling(sibling_id="2"))

        async def unlinked() -> bool:
            return await siblings(grid, "1") == [] and await siblings(grid, "2") == ["3"]

        await wait_for(unlinked)  # the other side forgot the link too
    finally:
        await grid.close()
