"""Exact sets of ports and of IP addresses, as sorted lists of closed intervals.

- :class:`PortSet`: for each of TCP, UDP and SCTP the allowed port numbers (1-65535), plus ``other``:
  the protocols a NetworkPolicy cannot name (ICMP...), which only a rule without ``ports`` allows.
  A rule without ``ports`` therefore gives :data:`ALL_PORTS` ("*").
- :class:`AddrSet`: IPv4 and IPv6 addresses on one number line (IPv6 shifted past the IPv4 space),
  so a CIDR minus its ``except`` list is a couple of intervals.

Both are immutable and hashable; operations are cached because the same few sets recur.
"""

from __future__ import annotations

import ipaddress
import itertools
from functools import lru_cache

Intervals = tuple[tuple[int, int], ...]

PROTOCOLS = ("TCP", "UDP", "SCTP")
MIN_PORT, MAX_PORT = 1, 65535
_FULL: Intervals = ((MIN_PORT, MAX_PORT),)


def _union(a: Intervals, b: Intervals) -> Intervals:
    if not a:
        return b
    if not b or a == b:
        return a
    return _normalize(a + b)


def _normalize(ivs: Intervals) -> Intervals:
    """Sorted, merged intervals."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ivs):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    if not a or not b:
        return ()
    if a == b:
        return a
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _minus(a: Intervals, b: Intervals) -> Intervals:
    out = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


class PortSet:
    """Allowed (protocol, port) pairs. Build with :meth:`of`, :data:`ALL_PORTS`, :data:`NO_PORTS`."""

    __slots__ = ("_hash", "other", "ranges")

    def __init__(self, ranges: tuple[Intervals, Intervals, Intervals], other: bool) -> None:
        self.ranges = ranges
        self.other = other
        self._hash = hash((ranges, other))

    @staticmethod
    def of(protocol: str, lo: int = MIN_PORT, hi: int = MAX_PORT) -> PortSet:
        """One protocol, ports ``lo``-``hi`` (an empty set when the range is empty)."""
        i = PROTOCOLS.index(protocol)
        lo, hi = max(lo, MIN_PORT), min(hi, MAX_PORT)
        ranges: list[Intervals] = [(), (), ()]
        if lo <= hi:
            ranges[i] = ((lo, hi),)
        return PortSet((ranges[0], ranges[1], ranges[2]), False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortSet) and self.ranges == other.ranges and self.other == other.other

    def __hash__(self) -> int:
        return self._hash

    def __bool__(self) -> bool:
        return self.other or any(self.ranges)

    def __or__(self, other: PortSet) -> PortSet:
        return _port_union(self, other)

    def __and__(self, other: PortSet) -> PortSet:
        return _port_intersect(self, other)

    def __sub__(self, other: PortSet) -> PortSet:
        r = self.ranges
        o = other.ranges
        return PortSet((_minus(r[0], o[0]), _minus(r[1], o[1]), _minus(r[2], o[2])), self.other and not other.other)

    @property
    def is_all(self) -> bool:
        return self.other and all(r == _FULL for r in self.ranges)

    def contains(self, protocol: str, port: int) -> bool:
        return any(lo <= port <= hi for lo, hi in self.ranges[PROTOCOLS.index(protocol)])

    def render(self) -> list[str]:
        """``["*"]`` for everything, else ``["TCP/80", "UDP/53-60", "TCP/*", ...]`` (``other`` alone
        is shown as ``"other"``)."""
        if self.is_all:
            return ["*"]
        out = []
        for proto, ivs in zip(PROTOCOLS, self.ranges):
            if ivs == _FULL:
                out.append(f"{proto}/*")
                continue
            for lo, hi in ivs:
                out.append(f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}")
        if self.other:
            out.append("other")
        return out

    def __str__(self) -> str:
        return ", ".join(self.render()) or "none"

    def __repr__(self) -> str:
        return f"PortSet({self})"


@lru_cache(maxsize=65536)
def _port_union(a: PortSet, b: PortSet) -> PortSet:
    if a is b or not b:
        return a
    if not a:
        return b
    ra, rb = a.ranges, b.ranges
    return PortSet((_union(ra[0], rb[0]), _union(ra[1], rb[1]), _union(ra[2], rb[2])), a.other or b.other)


@lru_cache(maxsize=65536)
def _port_intersect(a: PortSet, b: PortSet) -> PortSet:
    if a is b:
        return a
    if a.is_all:
        return b
    if b.is_all:
        return a
    ra, rb = a.ranges, b.ranges
    return PortSet((_intersect(ra[0], rb[0]), _intersect(ra[1], rb[1]), _intersect(ra[2], rb[2])), a.other and b.other)


ALL_PORTS = PortSet((_FULL, _FULL, _FULL), True)
NO_PORTS = PortSet(((), (), ()), False)


def port_atoms(sets: list[PortSet]) -> list[PortSet]:
    """The coarsest partition of the port space such that every set in ``sets`` is a union of atoms
    (only atoms inside some set are returned)."""
    atoms: list[PortSet] = []
    for i, proto in enumerate(PROTOCOLS):
        cuts = {MIN_PORT, MAX_PORT + 1}
        for s in sets:
            for lo, hi in s.ranges[i]:
                cuts.add(lo)
                cuts.add(hi + 1)
        edges = sorted(cuts)
        for lo, nxt in itertools.pairwise(edges):
            atom = PortSet.of(proto, lo, nxt - 1)
            if any(s & atom for s in sets):
                atoms.append(atom)
    if any(s.other for s in sets):
        atoms.append(PortSet(((), (), ()), True))
    return atoms


def parse_port_query(text: str) -> tuple[str, int | str]:
    """``5432/TCP``, ``53/udp``, ``5432`` (TCP) or ``http/TCP`` (a named port) -> (protocol, port)."""
    t = text.strip()
    port_part, _, proto = t.partition("/")
    if "/" in t and port_part.upper() in PROTOCOLS:  # also accept TCP/5432
        port_part, proto = proto, port_part
    proto = (proto or "TCP").upper()
    if proto not in PROTOCOLS:
        raise ValueError(f"unknown protocol {proto!r} in {text!r}: use TCP, UDP or SCTP")
    if port_part.isdigit():
        n = int(port_part)
        if not MIN_PORT <= n <= MAX_PORT:
            raise ValueError(f"port {n} is out of range 1-65535")
        return proto, n
    if not port_part:
        raise ValueError(f"no port in {text!r}: use PORT[/PROTOCOL], e.g. 5432/TCP")
    return proto, port_part


# ----------------------------------------------------------------------------------- addresses

_V6_BASE = 1 << 32
_V4_ALL = ((0, (1 << 32) - 1),)
_V6_ALL = ((_V6_BASE, _V6_BASE + (1 << 128) - 1),)


class AddrSet:
    """A set of IPv4/IPv6 addresses as intervals on one number line."""

    __slots__ = ("_hash", "ivs")

    def __init__(self, ivs: Intervals) -> None:
        self.ivs = ivs
        self._hash = hash(ivs)

    @staticmethod
    @lru_cache(maxsize=16384)
    def cidr(text: str) -> AddrSet:
        """A CIDR (``10.0.0.0/8``, ``2001:db8::/32``) or a single address. Host bits are ignored, as
        the API server's sloppy CIDR parser does. Raises ValueError."""
        net = ipaddress.ip_network(str(text).strip(), strict=False)
        base = 0 if net.version == 4 else _V6_BASE
        lo = base + int(net.network_address)
        return AddrSet(((lo, lo + net.num_addresses - 1),))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AddrSet) and self.ivs == other.ivs

    def __hash__(self) -> int:
        return self._hash

    def __bool__(self) -> bool:
        return bool(self.ivs)

    def __or__(self, other: AddrSet) -> AddrSet:
        return AddrSet(_union(self.ivs, other.ivs))

    def __and__(self, other: AddrSet) -> AddrSet:
        return AddrSet(_intersect(self.ivs, other.ivs))

    def __sub__(self, other: AddrSet) -> AddrSet:
        return AddrSet(_minus(self.ivs, other.ivs))

    @staticmethod
    def union_of(sets: list[AddrSet]) -> AddrSet:
        ivs: Intervals = ()
        for a in sets:
            ivs += a.ivs
        return AddrSet(_normalize(ivs)) if len(sets) > 1 else (sets[0] if sets else AddrSet(()))

    def covers(self, other: AddrSet) -> bool:
        return not (other - self)

    def render(self) -> list[str]:
        """As a minimal list of CIDRs."""
        out: list[str] = []
        for lo, hi in self.ivs:
            for start, end, v6 in _split_family(lo, hi):
                cls = ipaddress.IPv6Address if v6 else ipaddress.IPv4Address
                out.extend(str(n) for n in ipaddress.summarize_address_range(cls(start), cls(end)))
        return out

    def __str__(self) -> str:
        r = self.render()
        return ", ".join(r) if r else "none"

    def __repr__(self) -> str:
        return f"AddrSet({self})"


def _split_family(lo: int, hi: int) -> list[tuple[int, int, bool]]:
    out = []
    if lo < _V6_BASE:
        out.append((lo, min(hi, _V6_BASE - 1), False))
    if hi >= _V6_BASE:
        out.append((max(lo, _V6_BASE) - _V6_BASE, hi - _V6_BASE, True))
    return out


ALL_ADDRS = AddrSet(_union(_V4_ALL, _V6_ALL))
NO_ADDRS = AddrSet(())
