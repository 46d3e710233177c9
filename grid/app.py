"""``python -m grid.app -s HOST -p PORT -n NAME -i ID -t TOKEN``: the original way to run a node."""

from __future__ import annotations

import typer

from .cli.node import node


def main() -> None:
    """Parse the original flags and run one node."""
    typer.run(node)


if __name__ == "__main__":
    main()
