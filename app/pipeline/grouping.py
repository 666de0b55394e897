"""Connected groups: items joined pairwise (this report covers the same story as that one) put
into one group with everything they are joined to, through any chain (union-find).

Pure.  Used by the judge's story clusters (stories.py), the site's story cards (coverage.py)
and the development set's split (bench/devset.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def connected(items: Sequence[T], key: Callable[[T], str],
              pairs: Iterable[tuple[str, str]]) -> list[list[T]]:
    """`items` grouped so that the two keys of every pair end in one group.  Groups come in
    the order of their first item, items in their order; a pair naming a key of no item is
    ignored."""
    parent = {key(item): key(item) for item in items}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if a in parent and b in parent:
            parent[find(b)] = find(a)
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(find(key(item)), []).append(item)
    return list(groups.values())
