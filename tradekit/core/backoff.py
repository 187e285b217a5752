"""One back-off policy for every refusal of every kind.

Every request the engine sends belongs to a *kind* ("stop", "exit", "edit", the cancel
or the lookup of one order, ...) and has a *key* (its levels, or the order it acts on).
When the exchange refuses one (a placement rejected, a placement accepted and then
FAILED or EXPIRED, a cancel or an edit refused, a lookup left unanswered):
- no request of that kind is sent before `until`: the wait starts at `initial_ns` and
  doubles with each refusal of the kind in a row, up to `max_ns`; so a request
  identical to a refused one is never sent inside its back-off, and neither is a
  near-identical one (a storm of slightly different stops is still a storm);
- a refusal for a permanent reason (the same request would be refused whatever the
  moment) is never sent again unchanged, however long it waits;
- a success of the kind forgets its refusals.
Kinds wait independently: a refused cancel of the stop does not hold back an exit.
Times are the events' own nanoseconds (the core reads no clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Refusal:
    """The last refusal of one kind: what was refused, why, and until when it waits."""

    key: str
    reason: str
    until: int
    step: int
    permanent: bool = False


class Backoff:
    """The refusals of one pair, by kind. See the module docstring."""

    __slots__ = ("counts", "initial_ns", "max_ns", "refusals")

    def __init__(self, initial_ns: int, max_ns: int) -> None:
        self.initial_ns = initial_ns
        self.max_ns = max_ns
        self.refusals: dict[str, Refusal] = {}  # kind -> its last refusal
        # "kind|key" -> refusals of that very request since it last went through: a
        # request refused again waits at least as long as its own history says, even
        # when other requests of its kind went through in between
        self.counts: dict[str, int] = {}

    def refused(self, kind: str, key: str, reason: str, ts: int, permanent: bool = False) -> int:
        """Note a refusal at `ts`; return the time before which the kind waits."""
        last = self.refusals.get(kind)
        name = f"{kind}|{key}"
        n = self.counts.pop(name, 0) + 1
        self.counts[name] = n
        if len(self.counts) > _HISTORY:
            del self.counts[next(iter(self.counts))]  # the oldest: long settled
        step = self.initial_ns if last is None else min(self.max_ns, last.step * 2)
        step = max(step, min(self.max_ns, self.initial_ns << min(n - 1, 62)))
        self.refusals[kind] = Refusal(key, reason, ts + step, step, permanent)
        return ts + step

    def holds(self, kind: str, key: str | Callable[[], str], ts: int) -> Refusal | None:
        """The refusal that forbids sending `key` of `kind` at `ts`, or None. `key` may
        be a function that makes it: called only when a refusal of the kind is kept
        (the hot path sends requests no refusal holds, and never formats their key)."""
        r = self.refusals.get(kind)
        if r is None:
            return None
        if ts < r.until:
            return r
        if r.permanent and r.key == (key if isinstance(key, str) else key()):
            return r
        return None

    def succeeded(self, kind: str, key: str | Callable[[], str] | None = None) -> None:
        """The exchange took a request of `kind` (`key`: that very request, or a
        function that makes it): the kind's back-off starts afresh."""
        self.refusals.pop(kind, None)
        if key is not None and self.counts:
            self.counts.pop(f"{kind}|{key if isinstance(key, str) else key()}", None)

    def forget(self, prefix: str) -> None:
        """Drop the kinds that name a finished order (their requests can never recur)."""
        for kind in [k for k in self.refusals if k.startswith(prefix)]:
            del self.refusals[kind]
        for name in [k for k in self.counts if k.startswith(prefix)]:
            del self.counts[name]

    def snapshot(self) -> dict[str, Any]:
        return {
            "refusals": {
                kind: [r.key, r.reason, r.until, r.step, r.permanent]
                for kind, r in self.refusals.items()
            },
            "counts": dict(self.counts),
        }

    def restore(self, d: dict[str, Any]) -> None:
        refusals = d.get("refusals", {})
        self.refusals = {
            kind: Refusal(str(v[0]), str(v[1]), int(v[2]), int(v[3]), bool(v[4]))
            for kind, v in refusals.items()
        }
        self.counts = {str(k): int(v) for k, v in d.get("counts", {}).items()}


_HISTORY = 64  # requests whose refusals are remembered
