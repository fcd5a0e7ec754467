# -*- test-case-name: tests.test_handler_model -*-
"""
What a handler with options matches: its alternative specs, normalised, and
where in a :class:`~twisted_event_dispatcher._matching.SpecIndex` each is
filed.

A handler registered with a plain mapping of plain values needs none of
this (the registry files it directly); this module serves ``any_of``
values, several alternatives (a sequence of specs) and ``where=``
predicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import final

from ._matching import Filing, SpecIndex, normalize_spec, residual_fits
from ._options import AnyOf, MatchSpec, Predicate, as_predicates

__all__ = ["Alternative", "Alternatives", "Match", "choose_filings", "normalize_match"]

#: What ``register(match=...)`` takes: a mapping, a :class:`MatchSpec`, or a
#: sequence of either for alternatives.
Match = Mapping[str, object] | MatchSpec | Sequence[Mapping[str, object] | MatchSpec]


@final
class Alternative:
    """
    One normalised alternative: its constraints, sorted by keyword (a value
    or an :class:`AnyOf` each), and its predicates.
    """

    __slots__ = ("constraints", "where")

    def __init__(self, constraints: tuple[tuple[str, object], ...], where: tuple[Predicate, ...]) -> None:
        self.constraints = constraints
        self.where = where

    def describe(self) -> dict[str, object]:
        """
        The constraints, as a match-spec would give them.
        """
        return dict(self.constraints)

    def accepts(self, event: object, details: Mapping[str, object]) -> bool:
        """
        Whether ``details`` meet the constraints and every predicate accepts.
        """
        if self.constraints and not residual_fits(self.constraints, details):
            return False
        for predicate in self.where:  # noqa: SIM110 (a plain loop: no generator made per call)
            if not predicate(event, details):
                return False
        return True


@final
class Alternatives:
    """
    Several alternatives of one handler, as the residual check of an index
    (see :data:`~twisted_event_dispatcher._matching.Residual`): the handler
    is found when any one matches.
    """

    __slots__ = ("alternatives",)

    def __init__(self, alternatives: Sequence[Alternative]) -> None:
        self.alternatives = alternatives

    def matches(self, details: Mapping[str, object]) -> bool:
        return any(residual_fits(alternative.constraints, details) for alternative in self.alternatives)


def _normalize(spec: MatchSpec, common: tuple[Predicate, ...], allowed: frozenset[str]) -> Alternative:
    plain: dict[str, object] = {}
    choices: dict[str, AnyOf] = {}
    for keyword, value in spec.keywords.items():
        if isinstance(value, AnyOf):
            choices[keyword] = value
        else:
            plain[keyword] = value
    for keyword in choices:
        plain.setdefault(keyword, None)  # checks the keyword is allowed
    keywords, values = normalize_spec(plain, allowed)
    merged: dict[str, object] = dict(zip(keywords, values, strict=True))
    for keyword, choice in choices.items():
        merged[keyword] = next(iter(choice.values)) if len(choice.values) == 1 else choice
    constraints = tuple(sorted(merged.items()))
    return Alternative(constraints, (*spec.where, *common))


def _alternatives(match: object) -> list[Mapping[str, object] | MatchSpec]:
    """
    The alternatives of a ``match`` that is neither a mapping nor a :class:`MatchSpec`.

    :raises TypeError: for a string, or anything that is not iterable.
    """
    expected = "match must be a mapping, a MatchSpec or a sequence of them"
    if isinstance(match, str | bytes):
        raise TypeError(f"{expected}, not the single string {match!r}")
    if not isinstance(match, Iterable):
        raise TypeError(f"{expected}, got {type(match).__name__} {match!r}")
    return list(match)


def normalize_match(
    match: Match | None, where: Predicate | Iterable[Predicate] | None, allowed: frozenset[str]
) -> list[Alternative]:
    """
    Turn a ``match`` argument and handler-wide ``where`` predicates into
    normalised alternatives.

    :raises TypeError: for a ``match`` that is neither a mapping, a
        :class:`MatchSpec` nor a sequence of them (a string included), an
        alternative that is neither a mapping nor a :class:`MatchSpec`, or
        a predicate that is not callable.
    :raises ValueError: for an empty sequence of alternatives.
    :raises UnknownKeywordError: for a keyword not allowed.
    :raises UnhashableValueError: for a value that cannot be hashed.
    """
    if match is None or isinstance(match, Mapping | MatchSpec):
        specs: list[Mapping[str, object] | MatchSpec] = [match or {}]
    else:
        specs = _alternatives(match)
        if not specs:
            raise ValueError("match needs at least one alternative")
    common = as_predicates(where)
    alternatives = []
    for spec in specs:
        if not isinstance(spec, MatchSpec):
            if not isinstance(spec, Mapping):
                raise TypeError(f"each match alternative must be a mapping or a MatchSpec, got {spec!r}")
            spec = MatchSpec(spec)
        alternatives.append(_normalize(spec, common, allowed))
    return alternatives


def _values(expected: object) -> frozenset[object] | tuple[object]:
    return expected.values if type(expected) is AnyOf else (expected,)


def choose_filings(alternative: Alternative, index: SpecIndex[object]) -> list[Filing]:  # type: ignore[type-var]
    """
    Where to file one alternative: under each accepted value of its most
    selective keyword (the one whose buckets hold the fewest items, a plain
    value preferred over several), or among the wildcards.
    """
    if not alternative.constraints:
        return [None]
    best: tuple[int, int, str, object] | None = None
    for keyword, expected in alternative.constraints:
        values = _values(expected)
        load = sum(index.bucket_size(keyword, value) for value in values)
        candidate = (len(values), load, keyword, expected)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    assert best is not None
    _, _, keyword, expected = best
    return [(keyword, value) for value in _values(expected)]
