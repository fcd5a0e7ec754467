# -*- test-case-name: tests.test_matching -*-
"""
Matching fired event details against handler match-specs.

Pure and Twisted-free.  A match-spec constrains some keywords to values; a
keyword left out, or given as ``None``, is a wildcard.  Details match a spec
when they carry every constrained keyword with an equal value (equality as a
dictionary key sees it).

L{SpecIndex} finds the items whose specs match a set of details without
looking at items that cannot match: items are grouped by the keywords they
constrain, and each group is one dictionary keyed by the constrained values.
A lookup costs one dictionary access per group, whatever the number of items.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from ._errors import UnhashableValueError, UnknownKeywordError

T = TypeVar("T", bound=Hashable)

#: What a bucket of the index holds: one item alone, or an insertion-ordered
#: set of items (a dict whose values are all None).
_Bucket = object

_MISSING = object()


def check_keywords(keywords: Iterable[str], allowed: frozenset[str], where: str) -> None:
    """
    Raise L{UnknownKeywordError} if any of C{keywords} is not in C{allowed}.
    """
    unknown = [keyword for keyword in keywords if keyword not in allowed]
    if unknown:
        raise UnknownKeywordError(unknown, allowed, where)


def check_hashable(values: Mapping[str, object], where: str) -> None:
    """
    Raise L{UnhashableValueError} naming the first keyword whose value is unhashable.
    """
    for keyword, value in values.items():
        try:
            hash(value)
        except TypeError:
            raise UnhashableValueError(keyword, value, where) from None


def check_details(details: Mapping[str, object], allowed: frozenset[str], where: str) -> None:
    """
    Raise L{UnknownKeywordError} or L{UnhashableValueError} for details an
    event may not carry.
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
    :raises UnknownKeywordError: for a keyword not in C{allowed}.
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

    Used by the tests as the model that L{SpecIndex} must agree with.
    """
    for keyword, value in zip(keywords, values, strict=True):
        if keyword not in details:
            return False
        found = details[keyword]
        if found is not value and found != value:
            return False
    return True


def index_key(keywords: tuple[str, ...], values: tuple[object, ...]) -> object:
    """
    The key under which a spec is filed in its group's table: the value itself
    for a one-keyword spec (the common case, and no tuple to keep), else the
    tuple of values.
    """
    return values[0] if len(keywords) == 1 else values


class _Group(Generic[T]):
    """
    The items that constrain one set of keywords, keyed by their values.
    """

    __slots__ = ("keywords", "single", "table")

    def __init__(self, keywords: tuple[str, ...]) -> None:
        self.keywords = keywords
        self.single: str | None = keywords[0] if len(keywords) == 1 else None
        self.table: dict[object, object] = {}

    def bucket_for(self, details: Mapping[str, object]) -> object:
        """
        The bucket for C{details}, or None when nothing in this group matches.
        """
        single = self.single
        if single is not None:
            return self.table.get(details.get(single, _MISSING))
        try:
            key = tuple([details[keyword] for keyword in self.keywords])
        except KeyError:
            return None
        return self.table.get(key)


def _add_to_bucket(bucket: object, item: object) -> object:
    if bucket is None:
        return item
    if type(bucket) is dict:
        bucket[item] = None
        return bucket
    return {bucket: None, item: None}


def _remove_from_bucket(bucket: object, item: object) -> tuple[bool, object]:
    """
    Remove C{item}; return whether it was there and what the bucket becomes.
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


class SpecIndex(Generic[T]):
    """
    Items filed by match-spec, looked up by event details.

    Items are hashable objects compared by identity.  C{order} gives each
    item's position in registration order, so that items found in several
    groups come back in the order they were added.
    """

    __slots__ = ("_groups", "_order", "_plan", "_wild", "_wild_items", "has_groups", "size")

    #: How many items are filed: a plain attribute, cheap to test on every fire.
    size: int
    #: Whether any item constrains a keyword; if not, L{wild_items} is the
    #: answer to every lookup.
    has_groups: bool

    def __init__(self, order: Callable[[T], int]) -> None:
        self.size = 0
        self.has_groups = False
        self._order = order
        self._groups: dict[tuple[str, ...], _Group[T]] = {}
        self._plan: tuple[_Group[T], ...] = ()
        self._wild: object = None
        # The unconstrained items as a tuple, made again at the first lookup
        # after a change (None until then), so that a lookup copies nothing.
        self._wild_items: tuple[T, ...] | None = ()

    def add(self, keywords: tuple[str, ...], key: object, item: T) -> None:
        """
        File C{item} under the spec C{keywords}/C{key} (see L{index_key}).
        """
        self.size += 1
        if not keywords:
            self._wild = _add_to_bucket(self._wild, item)
            self._wild_items = None
            return
        group = self._groups.get(keywords)
        if group is None:
            group = self._groups[keywords] = _Group(keywords)
            self._plan = tuple(self._groups.values())
            self.has_groups = bool(self._plan)
        group.table[key] = _add_to_bucket(group.table.get(key), item)

    def remove(self, keywords: tuple[str, ...], key: object, item: T) -> bool:
        """
        Remove C{item} filed under C{keywords}/C{key}; return whether it was there.
        """
        found = self._remove(keywords, key, item)
        if found:
            self.size -= 1
        return found

    def _remove(self, keywords: tuple[str, ...], key: object, item: T) -> bool:
        if not keywords:
            found, self._wild = _remove_from_bucket(self._wild, item)
            self._wild_items = None
            return found
        group = self._groups.get(keywords)
        if group is None:
            return False
        bucket = group.table.get(key)
        if bucket is None:
            return False
        found, rest = _remove_from_bucket(bucket, item)
        if rest is None:
            del group.table[key]
            if not group.table:
                del self._groups[keywords]
                self._plan = tuple(self._groups.values())
                self.has_groups = bool(self._plan)
        else:
            group.table[key] = rest
        return found

    def wild_items(self) -> tuple[T, ...]:
        """
        The items that constrain no keyword, in registration order.
        """
        wild = self._wild_items
        return self._wild_tuple() if wild is None else wild

    def _wild_tuple(self) -> tuple[T, ...]:
        wild = () if self._wild is None else tuple(_bucket_items(self._wild))
        self._wild_items = wild  # type: ignore[assignment]
        return wild  # type: ignore[return-value]

    def lookup(self, details: Mapping[str, object]) -> Sequence[T]:
        """
        The items whose specs C{details} match, in registration order.

        The values of C{details} must be hashable (the caller checks).  The
        sequence returned is the caller's: later changes to the index do not
        alter it.
        """
        wild = self._wild_items
        if wild is None:
            wild = self._wild_tuple()
        if not self._plan:
            return wild
        first: object = None
        found: list[T] | None = None
        for group in self._plan:
            bucket = group.bucket_for(details)
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
            if not wild:
                return list(first) if type(first) is dict else (first,)  # type: ignore[return-value]
            found = [*wild, *_bucket_items(first)]  # type: ignore[list-item]
        found.sort(key=self._order)
        return found

    def __len__(self) -> int:
        return self.size

    def items(self) -> list[T]:
        """
        Every item in the index, in registration order.
        """
        every: list[T] = [] if self._wild is None else _bucket_items(self._wild)  # type: ignore[assignment]
        for group in self._plan:
            for bucket in group.table.values():
                every.extend(_bucket_items(bucket))  # type: ignore[arg-type]
        every.sort(key=self._order)
        return every
