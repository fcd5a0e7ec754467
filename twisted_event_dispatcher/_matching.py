# -*- test-case-name: tests.test_matching -*-
"""
Matching fired event details against handler match-specs.

A match-spec constrains some keywords to values; a keyword left out, or given
as ``None``, is a wildcard.  Details match a spec when they carry every
constrained keyword with an equal value (equality as a dictionary key sees it).

:class:`SpecIndex` finds the items whose specs match a set of details without
looking at items that cannot match.  Each item is filed under ONE of its
constraints, a ``(keyword, value)`` pair (the most selective one when it is
filed: the pair with the fewest items so far), or among the wildcards if it
constrains nothing.  Where several items share a pair, they are grouped by a
second constraint each, their probe (:func:`probe_of`).  A lookup reads one
bucket per fired detail; in a bucket of several, one set intersection (in C)
keeps the groups whose probe the details meet too, and only the items of
those have their remaining constraints checked, as a set of pairs that must
be a subset of the details' items.  So a fire costs what the details and the
matches cost, whatever the number of items registered and however many
different sets of keywords they constrain.

Pure and Twisted-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from sys import maxsize
from typing import Final, Generic, Protocol, TypeVar, final

from ._errors import UnhashableValueError, UnknownKeywordError
from ._options import AnyOf

__all__ = [
    "HASHABLE_TYPES",
    "MISSING",
    "Filed",
    "Filing",
    "KeywordCheck",
    "Pair",
    "Residual",
    "SpecIndex",
    "check_details",
    "check_fired_details",
    "check_hashable",
    "check_keywords",
    "normalize_spec",
    "plain_constraints",
    "plain_fits",
    "probe_of",
    "residual_fits",
    "spec_matches",
]

#: What ``details.get`` answers for a keyword that was not fired.
MISSING: Final = object()


class KeywordCheck(Protocol):
    """
    A residual check that is more than a tuple of constraints: several
    alternative specs, any of which may match.
    """

    def matches(self, details: Mapping[str, object]) -> bool:
        """
        Whether the keywords of any alternative match ``details``.
        """
        ...


#: The constraints an item must still meet once found in a bucket: None
#: (none: the bucket's pair was its only one), ``(keyword, value)`` pairs
#: to check (a value may be an :class:`AnyOf`), a dict of plain values (a
#: plain spec's own constraints, see :meth:`SpecIndex.placement`), or a
#: :class:`KeywordCheck`.
Residual = tuple[tuple[str, object], ...] | dict[str, object] | KeywordCheck | None


class Filed(Protocol):
    """
    What the index needs of an item: its order and its residual constraints.
    """

    @property
    def seq(self) -> int: ...

    @property
    def rest(self) -> Residual: ...


T = TypeVar("T", bound=Filed)


def check_keywords(keywords: Iterable[str], allowed: frozenset[str], where: str) -> None:
    """
    Raise :class:`UnknownKeywordError` if any of ``keywords`` is not in ``allowed``.
    """
    unknown = [keyword for keyword in keywords if keyword not in allowed]
    if unknown:
        raise UnknownKeywordError(unknown, allowed, where)


_NONE_TYPE: Final = type(None)

#: Types whose values are always hashable: fired details of these types need
#: no hashing to be checked.
HASHABLE_TYPES: Final = frozenset({str, int, float, bool, bytes, type(None)})


def check_fired_details(details: Mapping[str, object], allowed: frozenset[str]) -> None:
    """
    :func:`check_details` for a fire's details, at little cost while each
    keyword is allowed and each value of a type always hashable.
    """
    for keyword in details:
        if keyword not in allowed or type(details[keyword]) not in HASHABLE_TYPES:
            check_details(details, allowed, "fired event details")
            return


def check_hashable(values: Mapping[str, object], where: str) -> None:
    """
    Raise :class:`UnhashableValueError` naming the first keyword whose value is unhashable.
    """
    for keyword, value in values.items():
        try:
            hash(value)
        except TypeError:
            raise UnhashableValueError(keyword, value, where) from None


def check_details(details: Mapping[str, object], allowed: frozenset[str], where: str) -> None:
    """
    Raise :class:`UnknownKeywordError` or :class:`UnhashableValueError` for
    details an event may not carry.
    """
    check_keywords(details, allowed, where)
    check_hashable(details, where)


def normalize_spec(
    spec: Mapping[str, object], allowed: frozenset[str]
) -> tuple[tuple[str, ...], tuple[object, ...]]:
    """
    Validate a match-spec and reduce it to the keywords it constrains.

    :param spec: keyword to required value; ``None`` means any value.
    :param allowed: the keywords a spec may use.
    :returns: the constrained keywords, sorted, and their values, in that order.
    :raises UnknownKeywordError: for a keyword not in ``allowed``.
    :raises UnhashableValueError: for a value that cannot be hashed.
    """
    if not spec:
        return (), ()
    if not allowed.issuperset(spec):
        check_keywords(spec, allowed, "match-spec")
    if len(spec) == 1:  # the common case, without sorting
        ((keyword, value),) = spec.items()
        if value is None:
            return (), ()
        try:
            hash(value)
        except TypeError:
            raise UnhashableValueError(keyword, value, "match-spec") from None
        return (keyword,), (value,)
    constrained = {keyword: value for keyword, value in spec.items() if value is not None}
    try:
        hash(tuple(constrained.values()))
    except TypeError:
        check_hashable(constrained, "match-spec")
        raise
    keywords = tuple(sorted(constrained))
    return keywords, tuple([constrained[keyword] for keyword in keywords])


def plain_constraints(
    spec: Mapping[str, object], allowed: frozenset[str], wildcards: bool | None = None
) -> Mapping[str, object]:
    """
    Check the keywords of a match-spec of plain values as :func:`normalize_spec`
    does, and give its constraints as a mapping: ``spec`` itself when no
    value is None (the usual case, with nothing copied), else a dict of the
    others.  Its values are hashed where it is placed (see
    :meth:`SpecIndex.placement`), not here: registering a spec of many
    keywords needs no sorting of them, and no extra pass over them.

    :param wildcards: whether some value is None, when the caller has
        looked already (None: look).
    :raises UnknownKeywordError: for a keyword not in ``allowed``.
    """
    if not allowed.issuperset(spec):
        check_keywords(spec, allowed, "match-spec")
    if wildcards is None:
        wildcards = _NONE_TYPE in map(type, spec.values())
    if wildcards:
        return {keyword: value for keyword, value in spec.items() if value is not None}
    return spec


def spec_matches(
    keywords: tuple[str, ...], values: tuple[object, ...], details: Mapping[str, object]
) -> bool:
    """
    The reference definition of a match, one keyword at a time.

    Used by the tests as the model that :class:`SpecIndex` must agree with.
    """
    for keyword, value in zip(keywords, values, strict=True):
        if keyword not in details:
            return False
        found = details[keyword]
        if found is not value and found != value:
            return False
    return True


def residual_fits(rest: Residual, details: Mapping[str, object]) -> bool:
    """
    Whether ``details`` meet an item's residual constraints.
    """
    if rest is None:
        return True
    if type(rest) is dict:
        return plain_fits(rest, details)
    if type(rest) is not tuple:
        return rest.matches(details)  # type: ignore[union-attr]
    for keyword, expected in rest:
        found = details.get(keyword, MISSING)
        if type(expected) is AnyOf:
            if found not in expected.values:
                return False
        elif found is not expected and found != expected:
            return False
    return True


def plain_fits(constraints: Mapping[str, object], details: Mapping[str, object]) -> bool:
    """
    Whether ``details`` carry every keyword of ``constraints`` with an equal value.
    """
    for keyword, expected in constraints.items():
        found = details.get(keyword, MISSING)
        if found is not expected and found != expected:
            return False
    return True


#: A ``(keyword, value)`` constraint.
Pair = tuple[str, object]

#: Where an item is filed: a ``(keyword, value)`` pair, or None among the wildcards.
Filing = Pair | None


def probe_of(rest: Residual, keyword: str) -> Pair | None:
    """
    The constraint that sorts an item within the bucket of a pair on
    ``keyword`` (the pair it is filed under): the first plain constraint of
    a tuple ``rest`` (among its first two) on another keyword, the last pair
    of a dict ``rest`` (a plain spec's probe, see ``Registry._placed``), or
    None when there is none: the item is sure, as every lookup reaching the
    bucket meets the pair it is filed under.  It depends only on what the
    item constrains, so adding and removing find the same one.
    """
    if type(rest) is tuple:
        for pair in rest[:2]:
            if pair[0] != keyword and type(pair[1]) is not AnyOf:
                return pair
    elif type(rest) is dict and rest:
        pair = next(rest.items().__reversed__())  # what reversed() calls, without looking it up
        if pair[0] != keyword:
            return pair
    return None


def _add_member(members: object, item: object) -> object:
    """
    Members are one item alone, or an insertion-ordered set of items (a
    dict whose values are all None).
    """
    if members is None:
        return item
    if type(members) is dict:
        members[item] = None
        return members
    return {members: None, item: None}


def _remove_member(members: object, item: object) -> tuple[bool, object]:
    """
    Remove ``item``; return whether it was there and what the members become.
    """
    if type(members) is dict:
        if item not in members:
            return False, members
        del members[item]
        if len(members) == 1:
            return True, next(iter(members))
        return True, members
    if members is item:
        return True, None
    return False, members


def _members(members: object) -> list[object]:
    if type(members) is dict:
        return list(members)
    return [members]


@final
class _Bucket:
    """
    The items filed under one pair, when there are several.  Those without
    a probe (see :func:`probe_of`) are ``sure``: any lookup reaching the
    bucket meets the pair, all they may need.  The others are grouped by their
    probe, so that a lookup picks out the groups whose probe the details
    meet (a set intersection, in C) and looks no further at the others.
    """

    __slots__ = ("by_probe", "size", "sure")

    def __init__(self) -> None:
        self.sure: object = None
        self.by_probe: dict[Pair, object] = {}
        self.size = 0

    def add(self, item: Filed, keyword: str) -> None:
        probe = probe_of(item.rest, keyword)
        if probe is None:
            self.sure = _add_member(self.sure, item)
        else:
            members = self.by_probe.get(probe)
            self.by_probe[probe] = item if members is None else _add_member(members, item)
        self.size += 1

    def remove(self, item: Filed, keyword: str) -> bool:
        probe = probe_of(item.rest, keyword)
        if probe is None:
            found, self.sure = _remove_member(self.sure, item)
        else:
            found, members = _remove_member(self.by_probe.get(probe), item)
            if members is None:
                self.by_probe.pop(probe, None)
            else:
                self.by_probe[probe] = members
        if found:
            self.size -= 1
        return found

    def items(self) -> list[object]:
        every: list[object] = [] if self.sure is None else _members(self.sure)
        for members in self.by_probe.values():
            every.extend(_members(members))
        return every

    def only(self) -> object:
        """
        The one item left.
        """
        if self.sure is not None:
            return self.sure
        (members,) = self.by_probe.values()
        return members


def _check_of(rest: Residual) -> frozenset[Pair] | Residual:
    """
    How to check a residual: as a set of pairs when each value is plain,
    else as it is (see :func:`residual_fits`).
    """
    if type(rest) is tuple:
        for _, expected in rest:
            if type(expected) is AnyOf:
                return rest
        return frozenset(rest)
    return rest


#: What :meth:`SpecIndex.placement` reads for a keyword, or a pair, that
#: nothing is filed under (a bucket of none, never filed): never changed.
_NO_VALUES: Final[dict[object, object]] = {}
_NOTHING_FILED: Final = _Bucket()


def _entry_size(entry: object) -> int:
    if entry is None:
        return 0
    return entry.size if type(entry) is _Bucket else 1


def _seq_of(item: Filed) -> int:
    return item.seq


class SpecIndex(Generic[T]):
    """
    Items filed by match-spec, looked up by event details.

    Items are hashable objects compared by identity, with a ``seq`` (their
    registration order) and a ``rest`` (see :data:`Residual`, which must not
    change while the item is filed).  Lookups answer in ``seq`` order.
    """

    __slots__ = ("_by_keyword", "_checks", "_multiple", "_wild", "constrained", "keywords", "size", "wild")

    #: How many items are filed: a plain attribute, cheap to test on every fire.
    size: int
    #: The keywords some item is filed under.  When the details fired name
    #: none of them, the wildcards are the answer to a lookup.
    keywords: frozenset[str]
    #: Whether ``keywords`` has any (a plain bool, cheap to test on every fire).
    constrained: bool
    #: The items that constrain nothing, as a tuple in ``seq`` order; None
    #: after a change, until :meth:`wild_items` makes it again.
    wild: tuple[T, ...] | None

    def __init__(self) -> None:
        self.size = 0
        self.keywords = frozenset()
        self.constrained = False
        # keyword -> value -> one item filed under that pair, or a _Bucket.
        self._by_keyword: dict[str, dict[object, object]] = {}
        self._wild: object = None
        self.wild = ()
        # How many items are filed more than once (several alternatives):
        # while there are any, a lookup may find one twice.
        self._multiple = 0
        # item -> how to check its residual (see _check_of), made the first
        # time it is a candidate.
        self._checks: dict[T, frozenset[Pair] | Residual] = {}

    def bucket_size(self, keyword: str, value: object) -> int:
        """
        How many items are filed under ``(keyword, value)``.
        """
        by_value = self._by_keyword.get(keyword)
        return 0 if by_value is None else _entry_size(by_value.get(value))

    def placement(self, constraints: Mapping[str, object]) -> tuple[Pair, Pair]:
        """
        Where to file an item that constrains several keywords (each to a
        plain value, none None): under the pair with the fewest items filed
        so far, and grouped in its bucket by the pair with the next fewest
        (its probe), the first in ``constraints`` among equals.  Every
        value is looked up, and so hashed: an unhashable one raises
        :class:`TypeError`.

        One pass over the constraints, without sorting them: registering a
        handler that constrains many keywords costs little more than one
        that constrains one.  The item's residual is then a dict of its
        constraints, the probe last (what :func:`probe_of` reads).
        """
        by_keyword = self._by_keyword
        best_keyword = second_keyword = ""
        best_value = second_value = None
        best_load = second_load = maxsize
        for keyword, value in constraints.items():
            entry = by_keyword.get(keyword, _NO_VALUES).get(value, _NOTHING_FILED)
            load = entry.size if type(entry) is _Bucket else 1  # an item filed alone
            if load < best_load:
                second_keyword, second_value, second_load = best_keyword, best_value, best_load
                best_keyword, best_value, best_load = keyword, value, load
            elif load < second_load:
                second_keyword, second_value, second_load = keyword, value, load
        return (best_keyword, best_value), (second_keyword, second_value)

    def add(self, item: T, filings: Sequence[Filing]) -> None:
        """
        File ``item`` under each of ``filings``.
        """
        if len(filings) > 1:
            self._multiple += 1
        for filing in filings:
            if filing is None:
                self.add_one(item, None, None)
            else:
                self.add_one(item, *filing)
        self.size -= len(filings) - 1  # add_one counted it once per filing

    def add_one(self, item: T, keyword: str | None, value: object) -> None:
        """
        File ``item`` under the one pair ``(keyword, value)``, or among the
        wildcards when ``keyword`` is None.
        """
        self.size += 1
        if keyword is None:
            self._wild = _add_member(self._wild, item)
            self.wild = None
            return
        by_value = self._by_keyword.get(keyword)
        if by_value is None:
            by_value = self._by_keyword[keyword] = {}
            self.keywords = frozenset(self._by_keyword)
            self.constrained = True
        entry = by_value.setdefault(value, item)
        if entry is item:  # the first filed under this pair
            return
        if type(entry) is not _Bucket:
            bucket = _Bucket()
            bucket.add(entry, keyword)  # type: ignore[arg-type]
            entry = by_value[value] = bucket
        entry.add(item, keyword)

    def remove(self, item: T, filings: Sequence[Filing]) -> bool:
        """
        Remove ``item`` filed under ``filings``; return whether it was there.
        """
        taken = 0
        for filing in filings:
            if filing is None:
                taken += self.remove_one(item, None, None)
            else:
                taken += self.remove_one(item, *filing)
        if not taken:
            return False
        self.size += taken - 1  # remove_one counted it once per filing found
        if len(filings) > 1:
            self._multiple -= 1
        return True

    def remove_one(self, item: T, keyword: str | None, value: object) -> bool:
        """
        Remove ``item`` filed under the one pair ``(keyword, value)`` (or
        among the wildcards when ``keyword`` is None); return whether it was there.
        """
        if self._checks:
            self._checks.pop(item, None)
        if keyword is None:
            found, self._wild = _remove_member(self._wild, item)
            self.wild = None
            if found:
                self.size -= 1
            return found
        by_value = self._by_keyword.get(keyword, _NO_VALUES)  # the empty one only read
        entry = by_value.get(value)
        if type(entry) is _Bucket:
            if not entry.remove(item, keyword):
                return False
            if entry.size == 1:
                by_value[value] = entry.only()
        elif entry is not item:
            return False
        else:
            del by_value[value]
            if not by_value:
                del self._by_keyword[keyword]
                self.keywords = frozenset(self._by_keyword)
                self.constrained = bool(self.keywords)
        self.size -= 1
        return True

    def wild_items(self) -> tuple[T, ...]:
        """
        The items that constrain no keyword, in ``seq`` order.
        """
        wild = self.wild
        if wild is None:
            wild = self.wild = () if self._wild is None else tuple(_members(self._wild))  # type: ignore[arg-type]
        return wild

    def lookup(self, details: Mapping[str, object]) -> Sequence[T]:
        """
        The items whose specs ``details`` match, in ``seq`` order.

        Each detail fired leads to the items filed under it; of those, only
        the groups whose probe the details meet too are candidates, and only
        the candidates' remaining constraints are checked.  The values of
        ``details`` must be hashable (the caller checks).  The sequence
        returned is the caller's: later changes to the index do not alter it.
        """
        wild = self.wild
        if wild is None:
            wild = self.wild_items()
        by_keyword = self._by_keyword
        if not by_keyword:
            return wild
        fired = details.items()
        candidates: list[T] = []
        sources = 0  # how many runs in seq order the candidates come in
        for keyword, value in fired:
            by_value = by_keyword.get(keyword)
            if by_value is None:
                continue
            entry = by_value.get(value)
            if entry is None:
                continue
            if type(entry) is not _Bucket:
                candidates.append(entry)  # type: ignore[arg-type]
                sources += 1
                continue
            sure = entry.sure
            if sure is not None:
                if type(sure) is dict:
                    candidates.extend(sure)
                else:
                    candidates.append(sure)  # type: ignore[arg-type]
                sources += 1
            by_probe = entry.by_probe
            if not by_probe:
                continue
            for probe in by_probe.keys() & fired:
                members = by_probe[probe]
                if type(members) is dict:
                    candidates.extend(members)
                else:
                    candidates.append(members)  # type: ignore[arg-type]
                sources += 1
        if not candidates:
            return wild
        found = [item for item in candidates if item.rest is None]  # the common case: nothing more to check
        if len(found) != len(candidates):
            found = self._checked(candidates, details)
        if wild:
            found[:0] = wild
            sources += 1
        if sources > 1:
            if self._multiple:
                found = list(dict.fromkeys(found))
            found.sort(key=_seq_of)
        return found

    def _checked(self, candidates: list[T], details: Mapping[str, object]) -> list[T]:
        """
        The candidates whose remaining constraints ``details`` meet.  A
        remaining spec of plain values is checked as a set, in C: its pairs
        are a subset of the details' items.  A plain spec's dict is such a
        set already; for a tuple of pairs, the set is made the first time
        an item is a candidate, and kept while it is filed.
        """
        checks = self._checks
        fired = details.items()
        found: list[T] = []
        for item in candidates:
            rest = item.rest
            if rest is None:
                found.append(item)
                continue
            if type(rest) is dict:  # a plain spec's constraints: checked as they are
                if rest.items() <= fired:
                    found.append(item)
                continue
            check = checks.get(item)
            if check is None:
                check = checks[item] = _check_of(rest)
            if type(check) is frozenset:
                if check <= fired:
                    found.append(item)
            elif residual_fits(check, details):  # type: ignore[arg-type]
                found.append(item)
        return found

    def __len__(self) -> int:
        return self.size

    def items(self) -> list[T]:
        """
        Every item in the index, in ``seq`` order.
        """
        every: list[T] = [] if self._wild is None else _members(self._wild)  # type: ignore[assignment]
        for by_value in self._by_keyword.values():
            for entry in by_value.values():
                if type(entry) is _Bucket:
                    every.extend(entry.items())  # type: ignore[arg-type]
                else:
                    every.append(entry)  # type: ignore[arg-type]
        if self._multiple:
            every = list(dict.fromkeys(every))
        every.sort(key=_seq_of)
        return every
