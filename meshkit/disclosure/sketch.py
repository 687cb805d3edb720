"""Power-sum sketches of contact sets: tell exactly whether two sets differ by fewer than k.

A contact becomes h = md5(secret + id)[:8 hex] mod q, a point of the prime field of
q = 2**31 - 1 (the same in Python and in PostgreSQL: `sql_hash`). A set's sketch is its size
and the power sums S_j = Σ h^j mod q for j = 1..degrees(k) = (k - 1) + 2. Sketches add
(disjoint union, or multiset sum) and subtract term by term.

Why it is exact for small differences: with D_j = S_j(A) - S_j(B), Newton's identities give
the series C(t) = exp(-Σ D_j t^j / j) = Π_{a ∈ A\\B} (1 - a t) / Π_{b ∈ B\\A} (1 - b t),
a rational function whose numerator has degree x = |A\\B| and denominator y = |B\\A|, and
x - y = |A| - |B| is known. When x + y <= k - 1, that rational function satisfies the
x + 1..degrees(k) equations of a Padé test of its own degrees, so a difference below k is
never missed (short of two contacts with one hash on opposite sides, probability about
|Δ|² / q). When the difference is larger, passing the test needs the two extra equations
(beyond the y unknowns) to hold by chance: about 2 / q² per split. docs/disclosure-control.md
gives the figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import md5

Q = 2**31 - 1  # a Mersenne prime: the field of the sketches
EXTRA = 2  # sums beyond k - 1 that verify a Padé solution


def degrees(k: int) -> int:
    """How many power sums a sketch keeps for threshold k: (k - 1) + 2."""
    return (k - 1) + EXTRA


def contact_hash(secret: str, contact_id: str) -> int:
    """A contact's point of the field, keyed: the history names nobody without the secret."""
    return int(md5((secret + contact_id).encode()).hexdigest()[:8], 16) % Q


def sql_hash(secret_param: str, id_column: str) -> str:
    """`contact_hash` as a PostgreSQL expression (bigint), for SQL text.

    `secret_param` is the bind parameter's name (with or without its leading colon),
    `id_column` the contact id column (cast to text, so a uuid column works).
    """
    param = secret_param if secret_param.startswith(":") else f":{secret_param}"
    return f"(('x' || substr(md5({param} || ({id_column})::text), 1, 8))::bit(32)::bigint % {Q})"


def sql_power_sum(hash_sql: str, j: int) -> str:
    """SQL for S_j = Σ h^j mod q over the rows of a group (an aggregate; bigint products stay
    below 2**62 because each factor is reduced mod q first)."""
    if j < 1:
        raise ValueError("powers start at 1")
    power = hash_sql
    for _ in range(j - 1):
        power = f"(({power}) * {hash_sql} % {Q})"
    return f"(coalesce(sum({power}), 0) % {Q})::bigint"


@dataclass(frozen=True)
class Sketch:
    contacts: int  # the set's size
    sums: tuple[int, ...]  # sums[j - 1] = Σ h^j mod q

    def __add__(self, other: Sketch) -> Sketch:
        """The sketch of the union of two disjoint sets (of the multiset sum otherwise)."""
        return Sketch(
            self.contacts + other.contacts,
            tuple((a + b) % Q for a, b in zip(self.sums, other.sums, strict=False)),
        )

    def __sub__(self, other: Sketch) -> Sketch:
        return Sketch(
            self.contacts - other.contacts,
            tuple((a - b) % Q for a, b in zip(self.sums, other.sums, strict=False)),
        )

    def to_json(self) -> list[int]:
        """For storage: the size, then the sums (ints below 2**31)."""
        return [self.contacts, *self.sums]

    @classmethod
    def from_json(cls, data: Sequence[int]) -> Sketch:
        if not data or not all(isinstance(v, int) and 0 <= v for v in data):
            raise ValueError("not a sketch")
        if any(v >= Q for v in data[1:]):
            raise ValueError("not a sketch")
        return cls(data[0], tuple(data[1:]))


def empty(k: int) -> Sketch:
    return Sketch(0, (0,) * degrees(k))


def sketch_of(secret: str, ids: Iterable[str], k: int) -> Sketch:
    """The sketch of a set of contact ids (duplicates count once)."""
    sums = [0] * degrees(k)
    distinct = set(ids)
    for contact in distinct:
        h = contact_hash(secret, contact)
        power = 1
        for j in range(len(sums)):
            power = power * h % Q
            sums[j] += power
    return Sketch(len(distinct), tuple(s % Q for s in sums))


def _series(differences: Sequence[int]) -> list[int]:
    """The coefficients c_0..c_m of exp(-Σ D_j t^j / j) mod q (Newton's identities)."""
    c = [1]
    for n in range(1, len(differences) + 1):
        acc = sum(differences[j - 1] * c[n - j] for j in range(1, n + 1)) % Q
        c.append(-acc * pow(n, Q - 2, Q) % Q)
    return c


def _consistent(rows: list[list[int]]) -> bool:
    """Whether the linear system (each row: coefficients then right-hand side) has a
    solution mod q, by Gaussian elimination."""
    width = len(rows[0]) - 1 if rows else 0
    rows = [list(r) for r in rows]
    rank = 0
    for col in range(width):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        inverse = pow(rows[rank][col], Q - 2, Q)
        rows[rank] = [v * inverse % Q for v in rows[rank]]
        for i in range(len(rows)):
            if i != rank and rows[i][col]:
                f = rows[i][col]
                rows[i] = [(v - f * w) % Q for v, w in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return all(r[-1] == 0 for r in rows[rank:])


def _pade(c: list[int], x: int, y: int) -> bool:
    """Is there Q(t) = 1 + q_1 t + ... + q_y t^y with (Q·C)_n = 0 for n = x + 1..m?"""
    m = len(c) - 1
    rows = [
        [c[n - i] if n - i >= 0 else 0 for i in range(1, y + 1)] + [-c[n] % Q]
        for n in range(x + 1, m + 1)
    ]
    if not rows:
        return True
    if y == 0:
        return all(r[-1] == 0 for r in rows)
    return _consistent(rows)


def small_difference(a: Sketch, b: Sketch, k: int) -> bool:
    """True when 0 < |A Δ B| < k (multisets: the sketch of A + B may stand for A).

    No false negative while both sketches hold degrees(k) sums (short of a hash collision
    between the two sides, about |Δ|²/q); a False for |Δ| >= k except with probability
    about 2/q² per split tried. Sketches that hold fewer sums (made before k was raised)
    are compared with what they have: m = len(sums) - 2 of them decide, the last two verify,
    so differences of at most m contacts are caught and differences between m + 1 and k - 1
    are not. Equal sketches: False.
    """
    available = min(len(a.sums), len(b.sums))
    limit = min(k - 1, available - EXTRA)
    gap = a.contacts - b.contacts
    if abs(gap) > limit or limit < 1:
        return False
    differences = [(s - t) % Q for s, t in zip(a.sums[:available], b.sums[:available], strict=True)]
    if gap == 0 and not any(differences):
        return False
    c = _series(differences)
    for y in range(0, limit + 1):
        x = y + gap
        if x < 0 or not 0 < x + y <= limit:
            continue
        if _pade(c, x, y):
            return True
    return False
