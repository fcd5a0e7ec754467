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
constrains nothing.  A lookup reads one bucket per fired detail, and checks
the remaining constraints of the few items found there.  So a fire costs what
the details and the candidates cost, whatever the number of items registered
and however many different sets of keywords they constrain.

Pure and Twisted-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Generic, Protocol, TypeVar

from ._errors import UnhashableValueError, UnknownKeywordError
from ._options import AnyOf

__all__ = [
    "HASHABLE_TYPES",
    "MISSING",
    "Filed",
    "KeywordCheck",
    "Residual",
    "SpecIndex",
    "check_details",
    "check_fired_details",
    "check_hashable",
    "check_keywords",
    "normalize_spec",
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
#: to check (a value may be an :class:`AnyOf`), or a :class:`KeywordCheck`.
Residual = tuple[tuple[str, object], ...] | KeywordCheck | None


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


def _add_to_bucket(bucket: object, item: object) -> object:
    """
    A bucket holds one item alone, or an insertion-ordered set of items (a
    dict whose values are all None).
    """
    if bucket is None:
        return item
    if type(bucket) is dict:
        bucket[item] = None
        return bucket
    return {bucket: None, item: None}


def _remove_from_bucket(bucket: object, item: object) -> tuple[bool, object]:
    """
    Remove ``item``; return whether it was there and what the bucket becomes.
    """
    if type(bucket) is dict:
        if item not in bucket:
            return False, bucket
        del bucket[item]
        if len(bucket) == 1:
            return True, next(iter(bucket))
        return True, bucket
    if bucket is item:
        return True, None
    return False, bucket


def _bucket_items(bucket: object) -> list[object]:
    if type(bucket) is dict:
        return list(bucket)
    return [bucket]


def _bucket_size(bucket: object) -> int:
    if bucket is None:
        return 0
    return len(bucket) if type(bucket) is dict else 1


def _seq_of(item: Filed) -> int:
    return item.seq


#: Where an item is filed: a ``(keyword, value)`` pair, or None among the wildcards.
Filing = tuple[str, object] | None


class SpecIndex(Generic[T]):
    """
    Items filed by match-spec, looked up by event details.

    Items are hashable objects compared by identity, with a ``seq`` (their
    registration order) and a ``rest`` (see :data:`Residual`).  Lookups
    answer in ``seq`` order.
    """

    __slots__ = ("_by_keyword", "_multiple", "_wild", "constrained", "keywords", "size", "wild")

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
        self._by_keyword: dict[str, dict[object, object]] = {}
        self._wild: object = None
        self.wild = ()
        # How many items are filed more than once (several alternatives):
        # while there are any, a lookup may find one twice.
        self._multiple = 0

    def bucket_size(self, keyword: str, value: object) -> int:
        """
        How many items are filed under ``(keyword, value)``.
        """
        by_value = self._by_keyword.get(keyword)
        return 0 if by_value is None else _bucket_size(by_value.get(value))

    def add(self, item: T, filings: Sequence[Filing]) -> None:
        """
        File ``item`` under each of ``filings``.
        """
        self.size += 1
        if len(filings) > 1:
            self._multiple += 1
        for filing in filings:
            if filing is None:
                self._wild = _add_to_bucket(self._wild, item)
                self.wild = None
                continue
            keyword, value = filing
            by_value = self._by_keyword.get(keyword)
            if by_value is None:
                by_value = self._by_keyword[keyword] = {}
                self.keywords = frozenset(self._by_keyword)
                self.constrained = True
            by_value[value] = _add_to_bucket(by_value.get(value), item)

    def remove(self, item: T, filings: Sequence[Filing]) -> bool:
        """
        Remove ``item`` filed under ``filings``; return whether it was there.
        """
        found = False
        for filing in filings:
            found = self._remove(item, filing) or found
        if found:
            self.size -= 1
            if len(filings) > 1:
                self._multiple -= 1
        return found

    def _remove(self, item: T, filing: Filing) -> bool:
        if filing is None:
            found, self._wild = _remove_from_bucket(self._wild, item)
            self.wild = None
            return found
        keyword, value = filing
        by_value = self._by_keyword.get(keyword)
        if by_value is None:
            return False
        bucket = by_value.get(value)
        if bucket is None:
            return False
        found, rest = _remove_from_bucket(bucket, item)
        if rest is not None:
            by_value[value] = rest
            return found
        del by_value[value]
        if not by_value:
            del self._by_keyword[keyword]
            self.keywords = frozenset(self._by_keyword)
            self.constrained = bool(self.keywords)
        return found

    def wild_items(self) -> tuple[T, ...]:
        """
        The items that constrain no keyword, in ``seq`` order.
        """
        wild = self.wild
        if wild is None:
            wild = self.wild = () if self._wild is None else tuple(_bucket_items(self._wild))  # type: ignore[arg-type]
        return wild

    def lookup(self, details: Mapping[str, object]) -> Sequence[T]:
        """
        The items whose specs ``details`` match, in ``seq`` order.

        The values of ``details`` must be hashable (the caller checks).  The
        sequence returned is the caller's: later changes to the index do not
        alter it.
        """
        wild = self.wild
        if wild is None:
            wild = self.wild_items()
        by_keyword = self._by_keyword
        if not by_keyword:
            return wild
        first: object = None
        found: list[T] | None = None
        for keyword, value in details.items():
            by_value = by_keyword.get(keyword)
            if by_value is None:
                continue
            bucket = by_value.get(value)
            if bucket is None:
                continue
            if first is None:
                first = bucket
                continue
            if found is None:
                found = [*wild, *_bucket_items(first)]  # type: ignore[list-item]
            found.extend(_bucket_items(bucket))  # type: ignore[arg-type]
        if first is None:
            return wild
        if found is None:
            if type(first) is not dict:  # one item found: the common case
                if first.rest is not None and not residual_fits(first.rest, details):  # type: ignore[attr-defined]
                    return wild
                if not wild:
                    return (first,)  # type: ignore[return-value]
                found = [*wild, first]  # type: ignore[list-item]
            else:
                found = [item for item in first if item.rest is None or residual_fits(item.rest, details)]
                if not wild:
                    return found
                found[:0] = wild
                if self._multiple:
                    found = list(dict.fromkeys(found))
        else:
            if self._multiple:
                found = list(dict.fromkeys(found))
            found = [item for item in found if item.rest is None or residual_fits(item.rest, details)]
        found.sort(key=_seq_of)
        return found

    def __len__(self) -> int:
        return self.size

    def items(self) -> list[T]:
        """
        Every item in the index, in ``seq`` order.
        """
        every: list[T] = [] if self._wild is None else _bucket_items(self._wild)  # type: ignore[assignment]
        for by_value in self._by_keyword.values():
            for bucket in by_value.values():
                every.extend(_bucket_items(bucket))  # type: ignore[arg-type]
        if self._multiple:
            every = list(dict.fromkeys(every))
        every.sort(key=_seq_of)
        return every
