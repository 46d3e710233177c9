"""Graph generators for grids: ring, random with an average degree, square grid, feeder tree.

Pure and seeded: the same arguments give the same edges. Nodes are 0..n-1;
edges are sorted pairs ``(a, b)`` with ``a < b``, each once.
"""

from __future__ import annotations

from collections import deque
from random import Random

Edge = tuple[int, int]


def _edge(a: int, b: int) -> Edge:
    return (a, b) if a < b else (b, a)


def ring(n: int) -> list[Edge]:
    """Each node linked to the next, the last to the first."""
    if n < 2:
        return []
    return sorted({_edge(i, (i + 1) % n) for i in range(n)})


def random_graph(n: int, average_degree: float, seed: int) -> list[Edge]:
    """A ring (so the graph is connected) plus random chords up to the average degree."""
    edges = set(ring(n))
    target = min(int(n * average_degree / 2), n * (n - 1) // 2)
    rng = Random(seed)
    while len(edges) < target:
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            edges.add(_edge(a, b))
    return sorted(edges)


def square_grid(n: int) -> list[Edge]:
    """Nodes on a near-square lattice, linked to their right and lower neighbours."""
    width = max(1, round(n**0.5))
    edges = set()
    for i in range(n):
        if (i + 1) % width and i + 1 < n:
            edges.add(_edge(i, i + 1))
        if i + width < n:
            edges.add(_edge(i, i + width))
    return sorted(edges)


def feeder_tree(n: int, branching: int = 3) -> list[Edge]:
    """A radial feeder: node 0 is the substation, each node feeds ``branching`` others."""
    return sorted(_edge((i - 1) // branching, i) for i in range(1, n))


def diameter(n: int, edges: list[Edge]) -> int:
    """The longest shortest path (in hops); -1 if the graph is not connected."""
    neighbours: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    longest = 0
    for start in range(n):
        seen = {start: 0}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for other in neighbours[node]:
                if other not in seen:
                    seen[other] = seen[node] + 1
                    queue.append(other)
        if len(seen) < n:
            return -1
        longest = max(longest, max(seen.values()))
    return longest
