"""The convergence core: a versioned view of the grid, merged by gossip. No I/O.

Rules (theory of operation)
---------------------------
1. Each node owns exactly one entry about itself. Only the origin changes it,
   and every change bumps ``version``; a restart bumps ``incarnation`` (and so
   does running out of versions, so the entry always outranks its past).
2. A node's *view* maps origin -> the newest entry it has seen, ordered by
   ``(incarnation, version)``. Merging keeps the newer entry, so merge is
   commutative, associative and idempotent: loss, duplication and reordering
   of messages can delay agreement but never double-count.
3. For each sibling the core remembers which entry of each origin that
   sibling is known to have: because the sibling sent it or listed it in a
   digest. Only what changed since the last push is pushed, and that is
   always newer than anything pushed before, so what we sent needs no record;
   what a sibling sent us stops us sending it straight back.
4. Push: entries that changed since the last :meth:`GossipCore.flush` are
   sent in one ``UpdateNet`` per sibling, only those the sibling is not known
   to have. The caller decides how long a window to coalesce over, so a burst
   of changes costs one message per link, not one per change.
5. Pull: a ``SyncGrid`` digest (origin -> [incarnation, version]) is answered
   with the entries the sender lacks, and, once, with our own digest when the
   sender has something we lack. Digests repair whatever pushes lost.
6. Liveness is judged from durations, never from other machines' clocks: each
   entry on the wire carries its age (how long the sender has held it without
   a newer version); an entry not refreshed within ``ttl_s`` is *stale* and
   excluded from the grid net. The origin refreshes it every heartbeat.
7. A graceful stop publishes a ``left`` tombstone. Stale entries and
   tombstones are forgotten after ``forget_after_s``.

Everything that depends on time takes ``now`` (seconds, any monotonic origin)
as an argument; randomness comes in as a ``random.Random``. Methods return the
messages to send as :class:`Send` effects.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections import OrderedDict
from dataclasses import dataclass, field
from random import Random
from typing import Any, Iterable, NamedTuple

from .entry import MAX_VERSION, Entry, stamp_of
from .limits import MAX_ENTRIES
from .messages import SyncGrid, UpdateNet


@dataclass(frozen=True, slots=True)
class GossipConfig:
    """Timing knobs of the gossip core (seconds).

    - ``heartbeat_s``: how often a node refreshes its own entry. The grid
      carries N / heartbeat_s refreshes per second in all, so large grids
      want a longer heartbeat.
    - ``ttl_s``: an entry not refreshed for this long is stale. Must exceed
      heartbeat_s plus the time a refresh takes to cross the grid
      (diameter x hop latency), with margin for pauses; 5 x heartbeat_s by default.
    - ``sync_interval_s``: how often a node offers its digest to a sibling.
    - ``forget_after_s``: when stale entries and tombstones are dropped.

    Ages travel with entries only when some entry is older than 1% of the
    TTL (:attr:`fresh_ms`; 50 ms by default): computing them is per-entry work
    on the hot path, and an age below that resolution changes no liveness
    verdict. Each hop may so round an age down by at most that much.
    """

    heartbeat_s: float = 1.0
    ttl_s: float = 5.0
    sync_interval_s: float = 2.0
    forget_after_s: float = 3600.0
    max_batch: int = MAX_ENTRIES

    @property
    def fresh_ms(self) -> float:
        """News younger than this travels without an age (see :meth:`GossipCore._ages`)."""
        return self.ttl_s * 1000 * FRESH_SHARE_OF_TTL


#: What an entry adds to the grid net (see :attr:`Entry.counted_w`), as a C-level getter.
_COUNTED = operator.attrgetter("counted_w")

#: The age resolution as a share of the TTL.
FRESH_SHARE_OF_TTL = 0.01


def _split(stamps: dict[str, int], size: int) -> list[dict[str, int]]:
    """``stamps`` cut into dicts of at most ``size`` items, in order."""
    items = list(stamps.items())
    return [dict(items[i : i + size]) for i in range(0, len(items), size)]


class Send(NamedTuple):
    """An effect: send ``message`` to the sibling with id ``to``."""

    to: str
    message: Any


@dataclass(slots=True)
class Sibling:
    """A directly linked node."""

    id: str
    name: str
    address: str


@dataclass
class GossipCore:
    """One node's view of the grid and the rules to keep it converging."""

    me: Entry
    now: float
    config: GossipConfig = field(default_factory=GossipConfig)

    def __post_init__(self) -> None:
        self.view: dict[str, Entry] = {self.me.origin: self.me}
        #: origin -> stamp of its entry in the view (the hot path compares ints, not entries)
        self.stamps: dict[str, int] = {self.me.origin: self.me.stamp}
        self.learned_at: dict[str, float] = {self.me.origin: self.now}
        self.siblings: dict[str, Sibling] = {}
        # sibling -> origin -> stamp it showed us (sent or listed in a digest) since our last push
        self.known: dict[str, dict[str, int]] = {}
        #: origin -> stamp of each entry changed since the last flush: what the next push carries
        self.pending: dict[str, int] = {}
        #: The earliest learned_at among pending entries (inf when none).
        self._pending_since = float("inf")
        self.stale: set[str] = set()
        self.net_w = self.me.net_w if self.me.status == "alive" else 0
        self.needs_sync: set[str] = set()
        self._ttl_ms = self.config.ttl_s * 1000
        self._fresh_ms = self.config.fresh_ms
        self._rounds: OrderedDict[str, None] = OrderedDict()

    # ------------------------------------------------------------------ own entry
    @property
    def origin(self) -> str:
        """This node's id."""
        return self.me.origin

    def update_self(self, now: float, **changes: Any) -> Entry:
        """Change this node's own entry (bumping its version) and queue it for push."""
        incarnation, version = self.me.incarnation, self.me.version + 1
        if version > MAX_VERSION:  # e.g. refuting an entry at MAX_VERSION: stay valid and newer
            incarnation, version = incarnation + 1, 0
        entry = self.me.evolve(**changes, incarnation=incarnation, version=version)
        self._install(entry, now)
        self.me = entry
        return entry

    def heartbeat(self, now: float, **changes: Any) -> None:
        """Refresh the own entry so the grid keeps it live (optionally with ``changes``)."""
        self.update_self(now, **changes)

    def leave(self, now: float) -> None:
        """Publish a ``left`` tombstone; call :meth:`flush` afterwards to send it."""
        self.update_self(now, status="left")

    # ------------------------------------------------------------------ siblings
    def add_sibling(self, sibling: Sibling, now: float) -> list[Send]:
        """Link to ``sibling``; returns the digest offer that starts the exchange."""
        if sibling.id == self.origin:
            raise ValueError("a node cannot be its own sibling")
        is_new = sibling.id not in self.siblings
        self.siblings[sibling.id] = sibling
        if not is_new:
            return []
        self.known[sibling.id] = {}
        self._publish_siblings(now)
        return [self.offer_digest(sibling.id)]

    def remove_sibling(self, sibling_id: str, now: float) -> bool:
        """Unlink ``sibling_id``; returns whether it was a sibling."""
        if self.siblings.pop(sibling_id, None) is None:
            return False
        self.known.pop(sibling_id, None)
        self.needs_sync.discard(sibling_id)
        self._publish_siblings(now)
        return True

    def _publish_siblings(self, now: float) -> None:
        self.update_self(now, siblings=tuple(sorted(self.siblings)))

    def delivery_failed(self, sibling_id: str) -> None:
        """A send to ``sibling_id`` failed: forget what we assumed it has.

        The next :meth:`sync_targets` offers it our digest, which repairs the
        link as soon as the sibling answers again.
        """
        if sibling_id in self.known:
            self.known[sibling_id] = {}
            self.needs_sync.add(sibling_id)

    # ------------------------------------------------------------------ receiving
    def receive_update(self, sender: str, update: UpdateNet, now: float) -> list[str]:
        """Merge an ``UpdateNet``; returns the origins whose entry changed."""
        # The hot path of the whole system: in a burst most entries are news we
        # already have. Per entry: read (origin, stamp) once, one dict lookup,
        # one int compare; everything after that touches only the news.
        entries = update.entries
        incoming = update.stamps
        if len(incoming) < len(entries):  # one origin twice (only a peer in error sends that)
            return self._merge_one_by_one(sender, update, now)
        known = self.known.get(sender)
        if known is not None:
            known.update(incoming)  # the sender has these: no need to send them back
        stamps = self.stamps
        ours = stamps.get
        is_news = [s > ours(o, -1) for o, s in incoming.items()]
        if not any(is_news):
            return []
        news_stamps = dict(itertools.compress(incoming.items(), is_news))
        origins = list(news_stamps)
        if self.me.origin in news_stamps or not self.stale.isdisjoint(origins):
            return self._merge_one_by_one(sender, update, now)
        news = list(itertools.compress(entries, is_news))
        if update.ages_ms:
            ages = list(itertools.compress(update.ages_ms, is_news))
            if max(ages) > self._ttl_ms:
                return self._merge_one_by_one(sender, update, now)
            learned = dict(zip(origins, [now - a / 1000.0 for a in ages]))
            earliest = min(learned.values())
        else:
            learned = dict.fromkeys(origins, now)
            earliest = now
        # The common case (news about others, nothing stale): install in bulk.
        view = self.view
        olds = filter(None, map(view.get, origins))
        self.net_w += sum(map(_COUNTED, news)) - sum(map(_COUNTED, olds))
        view.update(zip(origins, news))
        stamps.update(news_stamps)
        self.learned_at.update(learned)
        self.pending.update(news_stamps)
        if earliest < self._pending_since:
            self._pending_since = earliest
        return origins

    def _merge_one_by_one(self, sender: str, update: UpdateNet, now: float) -> list[str]:
        """The careful path: stale entries, news about ourselves, one origin twice."""
        changed: list[str] = []
        me, ours = self.me.origin, self.stamps.get
        known = self.known.get(sender, {})
        for entry, age_ms in zip(update.entries, update.ages_ms or itertools.repeat(0)):
            origin = entry.origin
            known[origin] = max(known.get(origin, -1), entry.stamp)
            if entry.stamp <= ours(origin, -1):
                continue  # news we have (or had earlier in this very message)
            if origin == me:
                self._refute(entry, now)
                continue
            self._install(entry, now - age_ms / 1000.0)
            if age_ms > self._ttl_ms:  # it arrives already stale: never count it
                self._account(entry, None)
                self.stale.add(origin)
            if origin not in changed:
                changed.append(origin)
        return changed

    def receive_digest(self, sender: str, sync: SyncGrid, now: float) -> list[Send]:
        """Answer a sibling's digest: send what it lacks, ask once for what we lack."""
        digest = {origin: stamp_of(inc, ver) for origin, (inc, ver) in (sync.digest or {}).items()}
        if sender in self.siblings:
            self.known[sender] = dict(digest)
        sends: list[Send] = []
        missing = {o: s for o, s in self.stamps.items() if s > digest.get(o, -1)}
        if missing:
            sends.extend(self._batches(sender, missing, self._ages(missing, now)))
        ours = self.stamps.get
        if not sync.reply and any(s > ours(o, -1) for o, s in digest.items()):
            sends.append(Send(sender, SyncGrid(digest=self.digest(), reply=True)))
        if sync.round is not None:
            sends.extend(self.join_round(sync.round, exclude=sender))
        return sends

    def _refute(self, entry: Entry, now: float) -> None:
        """Someone holds a newer entry about us (a previous life): outrank it."""
        incarnation = max(self.me.incarnation, entry.incarnation)
        version = max(self.me.version, entry.version) if incarnation == entry.incarnation else self.me.version
        self.me = self.me.evolve(incarnation=incarnation, version=version)
        self.update_self(now)

    # ------------------------------------------------------------------ sending
    def flush(self, now: float) -> list[Send]:
        """One ``UpdateNet`` per sibling with the changed entries it lacks."""
        if not self.pending:
            return []
        changed, self.pending = self.pending, {}
        # Ages only matter at the scale of the TTL: skip them when all news is fresh.
        ages = self._ages(changed, now) if now - self._pending_since > self._fresh_ms / 1000 else None
        self._pending_since = float("inf")
        sends: list[Send] = []
        for sibling_id, known in self.known.items():
            if known:
                # Leave out what the sibling showed us since the last push, at our version.
                shown = known.get
                fresh = {o: s for o, s in changed.items() if s != shown(o)}
                known.clear()  # only news is pushed, and news is newer than all of this
            else:
                fresh = changed  # shared by the messages to several siblings: read only
            if fresh:
                sends.extend(self._batches(sibling_id, fresh, ages))
        return sends

    def _ages(self, origins: Iterable[str], now: float) -> dict[str, int] | None:
        """Age in ms of each origin's entry, or None when all are fresher than ``fresh_ms``.

        Ages only matter at the scale of the TTL (seconds); leaving them out
        for fresh news saves work on the hot path of a burst.
        """
        learned_at = self.learned_at
        ages = {o: max(0, int((now - learned_at[o]) * 1000)) for o in origins}
        fresh_ms = self._fresh_ms
        return ages if any(age > fresh_ms for age in ages.values()) else None

    def _batches(self, sibling_id: str, stamps: dict[str, int], ages: dict[str, int] | None) -> Iterable[Send]:
        """``UpdateNet`` messages carrying the view's entries of the origins in ``stamps``."""
        view, step = self.view, self.config.max_batch
        chunks = [stamps] if len(stamps) <= step else _split(stamps, step)
        for chunk in chunks:
            ages_ms = tuple(map(ages.__getitem__, chunk)) if ages is not None else ()
            entries = tuple(map(view.__getitem__, chunk))
            # Built without re-validation: these entries are already in our view.
            yield Send(sibling_id, UpdateNet.trusted(entries, ages_ms, chunk))

    def offer_digest(self, sibling_id: str, round_id: str | None = None) -> Send:
        """A ``SyncGrid`` with our digest, for one sibling."""
        return Send(sibling_id, SyncGrid(digest=self.digest(), round=round_id))

    def sync_targets(self, rng: Random) -> list[Send]:
        """Periodic repair: offer our digest to one sibling chosen by ``rng``,
        and to every sibling a delivery recently failed to."""
        if not self.siblings:
            return []
        targets = {rng.choice(sorted(self.siblings))} | (self.needs_sync & self.siblings.keys())
        self.needs_sync.clear()
        digest = self.digest()
        return [Send(s, SyncGrid(digest=digest)) for s in sorted(targets)]

    def join_round(self, round_id: str, exclude: str | None = None) -> list[Send]:
        """Take part in a grid-wide sync once: offer our digest to every sibling."""
        if round_id in self._rounds:
            return []
        self._rounds[round_id] = None
        if len(self._rounds) > 1024:
            self._rounds.popitem(last=False)
        digest = self.digest()
        return [Send(s, SyncGrid(digest=digest, round=round_id)) for s in sorted(self.siblings) if s != exclude]

    def digest(self) -> dict[str, tuple[int, int]]:
        """origin -> (incarnation, version) of every entry in the view."""
        return {o: (e.incarnation, e.version) for o, e in self.view.items()}

    # ------------------------------------------------------------------ liveness
    def expire(self, now: float) -> list[str]:
        """Mark entries not refreshed within the TTL stale; forget very old ones.

        Returns the origins that became stale.
        """
        ttl, forget = self.config.ttl_s, self.config.forget_after_s
        newly_stale = []
        for origin, learned in list(self.learned_at.items()):
            if origin == self.origin:
                continue
            age = now - learned
            if age > forget:
                self._forget(origin)
            elif age > ttl and origin not in self.stale:
                self._account(self.view[origin], None)
                self.stale.add(origin)
                newly_stale.append(origin)
        return newly_stale

    def _forget(self, origin: str) -> None:
        entry = self.view.pop(origin)
        del self.stamps[origin]
        self.pending.pop(origin, None)  # a forgotten origin has nothing to send
        if origin not in self.stale:
            self._account(entry, None)
        self.stale.discard(origin)
        del self.learned_at[origin]

    def is_live(self, origin: str) -> bool:
        """Whether ``origin``'s entry counts towards the grid (alive, not stale)."""
        entry = self.view.get(origin)
        return entry is not None and entry.status == "alive" and origin not in self.stale

    # ------------------------------------------------------------------ installing
    def _install(self, entry: Entry, learned_at: float) -> None:
        origin = entry.origin
        old = self.view.get(origin)
        if origin in self.stale:
            self.stale.discard(origin)
            old_counted = None
        else:
            old_counted = old
        self._account(old_counted, entry)
        self.view[origin] = entry
        self.stamps[origin] = entry.stamp
        self.learned_at[origin] = learned_at
        self.pending[origin] = entry.stamp
        if learned_at < self._pending_since:
            self._pending_since = learned_at

    def _account(self, old: Entry | None, new: Entry | None) -> None:
        """Keep the live grid net up to date as entries come and go."""
        if old is not None:
            self.net_w -= old.counted_w
        if new is not None:
            self.net_w += new.counted_w

    # ------------------------------------------------------------------ derived
    def live_entries(self) -> list[Entry]:
        """The entries that count: alive and not stale, sorted by origin."""
        return [self.view[o] for o in sorted(self.view) if self.is_live(o)]

    def view_digest(self) -> str:
        """A short hash of what the live entries say about energy, offers and emissions.

        Equal digests mean equal inputs to the grid net, the price and carbon,
        so equal results. Versions are left out on purpose: a heartbeat
        changes an entry's version but not what it says.
        """
        view = self.view
        keys = b"".join(view[o].content_key for o in sorted(view) if self.is_live(o))
        return hashlib.blake2b(keys, digest_size=8).hexdigest()
