"""Chat routing: the next hop from the view's topology, and the per-hop relay state machine.

Rules (theory of operation):
- The topology is the view's: every live entry lists its ``siblings``; two
  live nodes are linked when either lists the other (news of a new link
  travels from one side first). A node's own first hops are its actual
  siblings. Stale and departed nodes carry nothing.
- The next hop towards a target is the first step of a shortest path (BFS)
  over live nodes, never through a node the relay already visited. Among
  equal shortest paths the one whose first hop has the smallest id wins, so
  the choice is deterministic.
- Direct delivery: unless configured off, a node first sends straight to the
  target's address (from its entry); when that fails, it stops trying direct
  to that target for a while and goes hop by hop.
- Every hop acknowledges every relay it receives, including copies it
  already had, and drops copies it has seen (by ``relayId``): retries and
  alternative routes may duplicate, never loop (``route``, ``ttl``).
- A relay waits in the sender's outbox until the next hop acknowledges it.
  No acknowledgement within ``ack_timeout_s``, or a failed send, counts as a
  failed attempt: the hop is avoided for this relay and the relay is retried
  with exponential back-off. A relay whose target is not live waits (held)
  until the view shows the target again (:meth:`Router.wake`) or its patience
  runs out; it is then dropped, and the origin's end-to-end retry (by receipt)
  takes over. Typing signals are not worth holding: they get two tries.

The :class:`Router` is sans-I/O: it is fed events with the current time and
topology and returns effects (:class:`Transmit`, :class:`AckTo`,
:class:`Deliver`, :class:`Dropped`) for its node to carry out.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from random import Random

from protocol.chat import ChatRelay, forwarded


@dataclass(frozen=True)
class Topology:
    """Who is live and who links to whom, as one node's view says."""

    me: str
    #: Live nodes (this node included).
    live: frozenset[str]
    #: Undirected links between live nodes.
    links: Mapping[str, frozenset[str]]
    #: This node's own siblings (the links it can actually send over).
    siblings: frozenset[str]

    @classmethod
    def from_view(cls, me: str, listed: Mapping[str, Iterable[str]], siblings: Iterable[str]) -> "Topology":
        """``listed``: each live node's siblings as its entry lists them (``me`` included)."""
        live = frozenset(listed) | {me}
        links: dict[str, set[str]] = {node: set() for node in live}
        for node, its in listed.items():
            for other in its:
                if other in live and other != node:
                    links[node].add(other)
                    links[other].add(node)
        own = frozenset(s for s in siblings if s in live)
        links[me] |= own
        for s in own:
            links[s].add(me)
        return cls(me, live, {node: frozenset(near) for node, near in links.items()}, own)


def next_hop(topo: Topology, target: str, avoid: Collection[str] = ()) -> str | None:
    """The sibling to send to for ``target``; None when no live path avoids ``avoid``.

    BFS from this node; each node inherits the first hop of the node that
    found it. The first hops are queued in id order and every node's
    children after its predecessors', so within each layer first hops never
    decrease and a node is found first through the smallest first hop of any
    shortest path to it.
    """
    if target == topo.me or target not in topo.live or target in avoid:
        return None
    firsts = sorted(s for s in topo.siblings if s not in avoid)
    if target in firsts:
        return target
    seen = {topo.me, *avoid, *firsts}
    first_of = {s: s for s in firsts}
    queue = deque(firsts)
    while queue:
        node = queue.popleft()
        for near in topo.links.get(node, ()):
            if near in seen:
                continue
            if near == target:
                return first_of[node]
            seen.add(near)
            first_of[near] = first_of[node]
            queue.append(near)
    return None


# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``relay`` to node ``to`` (``direct``: to the target, off the sibling links)."""

    to: str
    relay: ChatRelay
    attempt: int
    direct: bool


@dataclass(frozen=True, slots=True)
class AckTo:
    """Acknowledge relays to the node that sent them."""

    to: str
    relay_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Deliver:
    """``relay`` reached its target: this node."""

    relay: ChatRelay


@dataclass(frozen=True, slots=True)
class Dropped:
    """This node gave ``relay`` up (``loop``, ``ttl``, ``unreachable``, ``gave_up``, ``full``)."""

    relay: ChatRelay
    reason: str


Effect = Transmit | AckTo | Deliver | Dropped


@dataclass(frozen=True)
class RouterConfig:
    """Knobs of the relay state machine (seconds).

    - ``direct``: try the target's own address before the sibling links.
    - ``ack_timeout_s``: an attempt not acknowledged this long has failed.
    - ``retry_base_s`` / ``retry_cap_s``: back-off after the n-th failure is
      ``min(cap, base * 2**(n-1))`` times a jitter in [0.75, 1.25).
    - ``max_attempts``: sends of one relay before it is dropped.
    - ``hold_s``: how long a relay may wait in this outbox at all.
    - ``direct_pause_s``: after a failed direct send, how long to go hop by hop.
    - ``seen_s`` / ``max_seen``: how long, and how many, relay ids are remembered.
    """

    direct: bool = True
    ack_timeout_s: float = 3.0
    retry_base_s: float = 0.5
    retry_cap_s: float = 10.0
    max_attempts: int = 20
    hold_s: float = 300.0
    direct_pause_s: float = 30.0
    seen_s: float = 600.0
    max_seen: int = 20_000
    max_outbox: int = 5_000


#: Sends a typing signal gets (no holding: a late "typing" is wrong, not late).
TYPING_ATTEMPTS = 2


@dataclass
class _Pending:
    relay: ChatRelay
    key: str | None
    created: float
    due: float
    attempts: int = 0
    hop: str | None = None
    direct: bool = False
    avoid: set[str] = field(default_factory=set)

    @property
    def patient(self) -> bool:
        return self.relay.kind != "typing"


class Router:
    """One node's outbox of relays, what it has seen, and where direct sends fail."""

    def __init__(self, me: str, config: RouterConfig | None = None, rng: Random | None = None) -> None:
        self.me = me
        self.config = config or RouterConfig()
        self.rng = rng or Random(me)
        self.outbox: dict[str, _Pending] = {}
        self._keys: dict[str, str] = {}  # supersede key -> relay id
        self._seen: OrderedDict[str, float] = OrderedDict()  # relay id -> forget after
        self._direct_down: dict[str, float] = {}  # target -> retry direct after

    # ------------------------------------------------------------ events
    def originate(self, relay: ChatRelay, now: float, topo: Topology, key: str | None = None) -> list[Effect]:
        """Send a relay made here; ``key`` replaces any waiting relay with the same key."""
        if key is not None and key in self._keys:
            self._remove(self._keys[key])
        self._remember(relay.relay_id, now)
        return self._enqueue(relay, key, now, topo)

    def receive(self, sender: str, relay: ChatRelay, now: float, topo: Topology) -> list[Effect]:
        """A relay arrived from ``sender``: acknowledge it, then deliver, forward or drop it."""
        if relay.relay_id in self._seen:
            return [AckTo(sender, (relay.relay_id,))]
        if relay.target != self.me and len(self.outbox) >= self.config.max_outbox:
            return [Dropped(relay, "full")]  # no ack: the sender tries another way
        self._remember(relay.relay_id, now)
        effects: list[Effect] = [AckTo(sender, (relay.relay_id,))]
        if relay.target == self.me:
            return [*effects, Deliver(relay)]
        if self.me in relay.route:
            return [*effects, Dropped(relay, "loop")]
        if relay.ttl <= 0:
            return [*effects, Dropped(relay, "ttl")]
        return effects + self._enqueue(forwarded(relay, self.me), None, now, topo)

    def acked(self, relay_ids: Iterable[str]) -> None:
        """The next hop took these relays: they leave the outbox."""
        for relay_id in relay_ids:
            self._remove(relay_id)

    def failed(self, relay_id: str, attempt: int, now: float, topo: Topology) -> list[Effect]:
        """Sending attempt ``attempt`` of a relay failed (refused, unreachable)."""
        pending = self.outbox.get(relay_id)
        if pending is None or pending.attempts != attempt or pending.hop is None:
            return []  # acknowledged meanwhile, or an older attempt
        self._attempt_failed(pending, now)
        return self.tick(now, topo)

    def tick(self, now: float, topo: Topology) -> list[Effect]:
        """Time passed: retry what is due, give up on what waited too long."""
        effects: list[Effect] = []
        for relay_id, pending in list(self.outbox.items()):
            if pending.due > now:
                continue
            if pending.hop is not None:  # no acknowledgement in time
                if not pending.patient:
                    self._remove(relay_id)
                    effects.append(Dropped(pending.relay, "gave_up"))
                    continue
                self._attempt_failed(pending, now)
                if pending.due > now:
                    continue
            effects += self._try(relay_id, pending, now, topo)
        self._forget_seen(now)
        return effects

    def wake(self, targets: Collection[str], now: float, topo: Topology) -> list[Effect]:
        """These targets came (back) to life in the view: retry their relays now."""
        for pending in self.outbox.values():
            if pending.relay.target in targets and pending.hop is None:
                pending.due = now
                pending.avoid.clear()
            if pending.relay.target in targets:
                self._direct_down.pop(pending.relay.target, None)
        return self.tick(now, topo)

    # ------------------------------------------------------------ reads
    def next_due(self) -> float | None:
        """When :meth:`tick` has something to do next."""
        return min((p.due for p in self.outbox.values()), default=None)

    def holds(self, key: str) -> bool:
        """Whether a relay with supersede ``key`` is still in the outbox."""
        return key in self._keys

    def waiting_for(self) -> set[str]:
        """Targets with relays in the outbox."""
        return {p.relay.target for p in self.outbox.values()}

    # ------------------------------------------------------------ internals
    def _enqueue(self, relay: ChatRelay, key: str | None, now: float, topo: Topology) -> list[Effect]:
        pending = _Pending(relay, key, created=now, due=now)
        self.outbox[relay.relay_id] = pending
        if key is not None:
            self._keys[key] = relay.relay_id
        return self._try(relay.relay_id, pending, now, topo)

    def _try(self, relay_id: str, pending: _Pending, now: float, topo: Topology) -> list[Effect]:
        limit = self.config.max_attempts if pending.patient else TYPING_ATTEMPTS
        if pending.attempts >= limit or now - pending.created > self.config.hold_s:
            self._remove(relay_id)
            return [Dropped(pending.relay, "gave_up")]
        hop, direct = self._choose(pending, now, topo)
        if hop is None:
            if not pending.patient:
                self._remove(relay_id)
                return [Dropped(pending.relay, "unreachable")]
            # Held: wake() retries as soon as the view shows the target again;
            # the recheck only covers paths that reopen without such news.
            pending.hop, pending.due = None, now + self.config.retry_cap_s
            return []
        pending.attempts += 1
        pending.hop, pending.direct, pending.due = hop, direct, now + self.config.ack_timeout_s
        return [Transmit(hop, pending.relay, pending.attempts, direct)]

    def _choose(self, pending: _Pending, now: float, topo: Topology) -> tuple[str | None, bool]:
        target = pending.relay.target
        if target not in topo.live:
            return None, False
        if target in topo.siblings and target not in pending.avoid:
            return target, False
        if self.config.direct and self._direct_down.get(target, 0.0) <= now and target not in pending.avoid:
            return target, True
        avoid = set(pending.relay.route) | pending.avoid
        hop = next_hop(topo, target, avoid)
        if hop is None and pending.avoid:  # every way failed once: start over
            pending.avoid.clear()
            hop = next_hop(topo, target, set(pending.relay.route))
        return hop, False

    def _attempt_failed(self, pending: _Pending, now: float) -> None:
        if pending.direct:
            self._direct_down[pending.relay.target] = now + self.config.direct_pause_s
        elif pending.hop is not None:
            pending.avoid.add(pending.hop)
        pending.hop, pending.direct = None, False
        # A typing signal is retried at once (another way) or not at all.
        pending.due = now + self._backoff(pending.attempts) if pending.patient else now

    def _backoff(self, failures: int) -> float:
        base = min(self.config.retry_cap_s, self.config.retry_base_s * 2 ** max(0, failures - 1))
        return base * (0.75 + 0.5 * self.rng.random())

    def _remove(self, relay_id: str) -> None:
        pending = self.outbox.pop(relay_id, None)
        if pending is not None and pending.key is not None and self._keys.get(pending.key) == relay_id:
            del self._keys[pending.key]

    def _remember(self, relay_id: str, now: float) -> None:
        self._seen[relay_id] = now + self.config.seen_s
        self._seen.move_to_end(relay_id)
        while len(self._seen) > self.config.max_seen:
            self._seen.popitem(last=False)

    def _forget_seen(self, now: float) -> None:
        while self._seen:
            relay_id, until = next(iter(self._seen.items()))
            if until > now:
                return
            del self._seen[relay_id]


__all__ = ["AckTo", "Deliver", "Dropped", "Effect", "Router", "RouterConfig", "Topology", "Transmit", "next_hop"]
