"""First in, first out: the one attribution rule for goods and cash (pure; exact in integers).

    >>> pool = [[10, 5], [12, 7]]          # (origin index, units), oldest first
    >>> take(pool, 6)
    [(10, 5), (12, 1)]
    >>> pool
    [[10, 0], [12, 6]]
"""

from __future__ import annotations


def take(pool: list[list[int]], amount: int) -> list[tuple[int, int]]:
    """Take `amount` units from `pool` (rows of [origin, units], oldest first), in place.

    Returns the (origin, units) taken, oldest first; raises ValueError when the pool is short,
    which the entry's checks make impossible (so a projector reaching it is a bug)."""
    if amount < 0:
        raise ValueError(f"cannot take {amount} units")
    taken: list[tuple[int, int]] = []
    remaining = amount
    for row in pool:
        if remaining == 0:
            break
        part = min(row[1], remaining)
        if part > 0:
            row[1] -= part
            remaining -= part
            taken.append((row[0], part))
    if remaining:
        raise ValueError(f"pool short by {remaining} units")
    return taken
