"""Delegation resolution while approvers are out of office."""

import datetime
from dataclasses import dataclass, field

MAX_CHAIN = 10


@dataclass(frozen=True)
class Delegation:
    user_id: int
    delegate_id: int
    date_from: datetime.date
    date_to: datetime.date
    policy_ids: frozenset = field(default_factory=frozenset)

    def covers(self, day, policy_id=None):
        if not (self.date_from <= day <= self.date_to):
            return False
        return not self.policy_ids or policy_id in self.policy_ids


def active_map(delegations, day, policy_id=None):
    """``{user_id: delegate_id}`` of the delegations in force on ``day``.

    When a user has several overlapping delegations the one starting last
    wins (the most specific hand-over), then the lowest delegate id.
    """
    best = {}
    for d in delegations:
        if d.user_id == d.delegate_id or not d.covers(day, policy_id):
            continue
        current = best.get(d.user_id)
        key = (d.date_from, bool(d.policy_ids), -d.delegate_id)
        if current is None or key > current[0]:
            best[d.user_id] = (key, d.delegate_id)
    return {u: v[1] for u, v in best.items()}


def resolve(user_id, mapping):
    """Follow delegation chains (A -> B -> C) and return the final assignee.

    Cycles (A -> B -> A) stop at the last user before the loop closes.
    """
    seen = [user_id]
    current = user_id
    for _i in range(MAX_CHAIN):
        nxt = mapping.get(current)
        if nxt is None or nxt in seen:
            break
        seen.append(nxt)
        current = nxt
    return current


def chain(user_id, mapping):
    """Everybody who may act for ``user_id``: the user and each delegate in the chain."""
    people = [user_id]
    current = user_id
    for _i in range(MAX_CHAIN):
        nxt = mapping.get(current)
        if nxt is None or nxt in people:
            break
        people.append(nxt)
        current = nxt
    return people


def delegators_of(actor_id, mapping):
    """Users on whose behalf ``actor_id`` may act (directly or via a chain)."""
    return {u for u in mapping if u != actor_id and actor_id in chain(u, mapping)[1:]}
