"""
Tests for the pure matching layer: spec normalisation and `SpecIndex`,
checked against a brute-force reference model.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twisted_event_dispatcher import AnyOf, UnhashableValueError, UnknownKeywordError, any_of
from twisted_event_dispatcher._matching import (
    SpecIndex,
    normalize_spec,
    plain_constraints,
    residual_fits,
    spec_matches,
)
from twisted_event_dispatcher._specs import Alternative, Alternatives

KEYWORDS = frozenset({"a", "b", "c"})
# Includes values that compare equal across types (1, 1.0, True), as dict keys do.
PLAIN = [0, 1, 2, "x", "y", (1, 2), True, 1.0, frozenset({3})]
VALUES = st.sampled_from(PLAIN)
SPECS = st.dictionaries(st.sampled_from(sorted(KEYWORDS)), VALUES | st.none(), max_size=3)
DETAILS = st.dictionaries(st.sampled_from(sorted(KEYWORDS)), VALUES, max_size=3)
CHOICES = st.builds(lambda values: any_of(*values), st.lists(VALUES, min_size=1, max_size=3))
ALTERNATIVE = st.dictionaries(st.sampled_from(sorted(KEYWORDS)), VALUES | CHOICES, max_size=3)


class Item:
    """
    A dummy indexed item: its alternatives (each keyword to a value or an
    AnyOf), its registration order, and where it was filed.
    """

    def __init__(self, seq: int, alternatives: list[dict[str, object]], pick: int) -> None:
        self.seq = seq
        self.alternatives = alternatives
        normalized = [Alternative(tuple(sorted(spec.items())), ()) for spec in alternatives]
        self.rest: Any = normalized[0].constraints or None
        if len(normalized) > 1:
            self.rest = Alternatives(normalized)
        self.filings: list[Any] = []
        for alternative in normalized:
            if not alternative.constraints:
                self.filings.append(None)
                continue
            keyword, expected = alternative.constraints[pick % len(alternative.constraints)]
            values = expected.values if isinstance(expected, AnyOf) else (expected,)
            for value in values:
                if (keyword, value) not in self.filings:
                    self.filings.append((keyword, value))
        if None in self.filings:
            self.filings = [None]

    def matches(self, details: dict[str, object]) -> bool:
        """
        The reference: some alternative's every keyword is fired with an
        accepted value.
        """
        return any(
            all(
                keyword in details
                and (
                    details[keyword] in expected.values
                    if isinstance(expected, AnyOf)
                    else details[keyword] == expected
                )
                for keyword, expected in spec.items()
            )
            for spec in self.alternatives
        )

    def __repr__(self) -> str:
        return f"Item({self.seq}, {self.alternatives}, filed {self.filings})"


ITEMS = st.tuples(st.lists(ALTERNATIVE, min_size=1, max_size=2), st.integers(0, 5))


@settings(deadline=None, max_examples=400)
@given(
    items=st.lists(ITEMS, max_size=25),
    removals=st.lists(st.integers(min_value=0, max_value=24), max_size=10),
    fired=st.lists(DETAILS, min_size=1, max_size=5),
)
def test_index_agrees_with_brute_force(
    items: list[tuple[list[dict[str, object]], int]], removals: list[int], fired: list[dict[str, object]]
) -> None:
    """
    After any sequence of additions and removals, whatever constraint each
    item is filed under, a lookup returns exactly the items the reference
    matches, once each, in registration order.
    """
    index: SpecIndex[Item] = SpecIndex()
    live = [Item(seq, alternatives, pick) for seq, (alternatives, pick) in enumerate(items)]
    for item in live:
        index.add(item, item.filings)
    for position in removals:
        if position < len(live):
            item = live.pop(position)
            assert index.remove(item, item.filings)
    assert len(index) == len(live)
    assert index.items() == live
    for details in fired:
        expected = [item for item in live if item.matches(details)]
        assert list(index.lookup(details)) == expected


WIDE_KEYWORDS = frozenset("abcde")
WIDE_DETAILS = st.dictionaries(st.sampled_from(sorted(WIDE_KEYWORDS)), VALUES, max_size=5)
WIDE_ALTERNATIVE = st.dictionaries(st.sampled_from(sorted(WIDE_KEYWORDS)), VALUES | CHOICES, max_size=5)
WIDE_ITEMS = st.tuples(st.lists(WIDE_ALTERNATIVE, min_size=1, max_size=2), st.integers(0, 5))
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), WIDE_ITEMS),
        st.tuples(st.just("remove"), st.integers(min_value=0, max_value=40)),
        st.tuples(st.just("fire"), WIDE_DETAILS),
    ),
    max_size=80,
)


@settings(deadline=None, max_examples=400)
@given(operations=OPERATIONS)
def test_index_agrees_with_brute_force_through_interleaved_changes(operations: list[tuple[str, Any]]) -> None:
    """
    Additions, removals and lookups in any order, over specs of up to five
    keywords (so that several items share a pair and are grouped there by
    their probes), with alternatives, any_of values and unconstrained items:
    every lookup returns exactly the items the reference matches, once each,
    in registration order.
    """
    index: SpecIndex[Item] = SpecIndex()
    live: list[Item] = []
    added = 0
    for operation, argument in operations:
        if operation == "add":
            alternatives, pick = argument
            item = Item(added, alternatives, pick)
            added += 1
            index.add(item, item.filings)
            live.append(item)
        elif operation == "remove":
            if argument < len(live):
                item = live.pop(argument)
                assert index.remove(item, item.filings)
                assert not index.remove(item, item.filings)
        else:
            expected = [item for item in live if item.matches(argument)]
            assert list(index.lookup(argument)) == expected
        assert len(index) == len(live)
    assert index.items() == live


class Counted:
    """
    A value that counts how often it is compared for equality (equal to
    any other of its kind).
    """

    compared = 0

    def __eq__(self, other: object) -> bool:
        Counted.compared += 1
        return isinstance(other, Counted)

    def __hash__(self) -> int:
        return 7


def test_a_lookup_checks_only_the_group_whose_probe_is_fired() -> None:
    """
    A hundred items share the pair they are filed under, each with its own
    second constraint (its probe): a fire that meets one probe has the
    remaining constraints of that one item checked, and of no other.
    """
    index: SpecIndex[Item] = SpecIndex()
    items = [Item(seq, [{"a": 1, "b": seq, "c": Counted()}], 0) for seq in range(100)]
    for item in items:
        index.add(item, item.filings)
    assert index.bucket_size("a", 1) == 100
    Counted.compared = 0
    assert list(index.lookup({"a": 1, "b": 42, "c": Counted()})) == [items[42]]
    assert Counted.compared == 1
    assert list(index.lookup({"a": 1, "b": 42, "c": "other"})) == []
    assert list(index.lookup({"a": 1, "b": 100, "c": Counted()})) == []


def test_placement_picks_the_pairs_with_fewest_items_filed() -> None:
    """
    What registration files a spec under (the first) and groups it by (the
    second): the pairs with the fewest items filed, ties in the order given.
    """
    index: SpecIndex[Item] = SpecIndex()
    for seq in range(3):
        item = Item(seq, [{"a": 1}], 0)
        index.add(item, item.filings)
    item = Item(3, [{"b": 2}], 0)
    index.add(item, item.filings)
    assert index.placement({"a": 1, "b": 2, "c": 3}) == (("c", 3), ("b", 2))
    assert index.placement({"a": 1, "b": 2}) == (("b", 2), ("a", 1))
    assert index.placement({"d": 4, "c": 3}) == (("d", 4), ("c", 3))


def test_plain_constraints_leave_wildcards_out_and_validate() -> None:
    """
    A spec of several keywords is given back as it is when it has no
    wildcard, without its wildcards otherwise, and refused for a keyword
    :func:`normalize_spec` refuses; an unhashable value is left to
    placement, which looks every value up.
    """
    spec = {"a": 1, "b": 2}
    assert plain_constraints(spec, KEYWORDS) is spec
    assert plain_constraints(spec, KEYWORDS, wildcards=False) is spec
    assert plain_constraints({"a": None, "b": 2, "c": 3}, KEYWORDS) == {"b": 2, "c": 3}
    assert plain_constraints({"a": None, "b": 2, "c": 3}, KEYWORDS, wildcards=True) == {"b": 2, "c": 3}
    with pytest.raises(UnknownKeywordError):
        plain_constraints({"a": 1, "rolle": [2]}, KEYWORDS)
    with pytest.raises(TypeError):
        SpecIndex[Any]().placement({"a": 1, "b": [2]})


@settings(deadline=None, max_examples=200)
@given(spec=SPECS, details=DETAILS)
def test_residual_check_is_the_reference_match(spec: dict[str, object], details: dict[str, object]) -> None:
    """
    The index's check of an item's remaining constraints agrees with the
    reference definition of a match.
    """
    keywords, values = normalize_spec(spec, KEYWORDS)
    assert residual_fits(tuple(zip(keywords, values, strict=True)), details) == spec_matches(
        keywords, values, details
    )


def test_bucket_size_counts_what_is_filed_under_a_pair() -> None:
    """
    What registration reads to choose the most selective constraint.
    """
    index: SpecIndex[Item] = SpecIndex()
    first, second = Item(0, [{"a": 1}], 0), Item(1, [{"a": 1, "b": 2}], 0)
    index.add(first, first.filings)
    index.add(second, second.filings)
    assert index.bucket_size("a", 1) == 2
    assert index.bucket_size("b", 2) == 0
    assert index.bucket_size("c", 1) == 0


def test_missing_keyword_does_not_match() -> None:
    """
    A keyword the spec constrains but the details do not carry means no match.
    """
    keywords, values = normalize_spec({"a": 1}, KEYWORDS)
    assert not spec_matches(keywords, values, {"b": 1})
    index: SpecIndex[Item] = SpecIndex()
    item = Item(0, [{"a": 1}], 0)
    index.add(item, item.filings)
    assert list(index.lookup({"b": 1})) == []


def test_none_is_a_wildcard() -> None:
    """
    A keyword given as None is left out of the spec.
    """
    assert normalize_spec({"a": None, "b": 2}, KEYWORDS) == (("b",), (2,))


def test_removing_an_absent_item_reports_false() -> None:
    """
    Removing what was never filed, or was removed already, returns False.
    """
    index: SpecIndex[Item] = SpecIndex()
    item = Item(0, [{"a": 1}], 0)
    assert not index.remove(item, item.filings)
    index.add(item, item.filings)
    other = Item(1, [{"a": 1}], 0)
    assert not index.remove(other, other.filings)
    assert index.remove(item, item.filings)
    assert not index.remove(item, item.filings)
    wild = Item(2, [{}], 0)
    assert not index.remove(wild, wild.filings)
    grouped = [Item(seq, [{"a": 1, "b": seq}], 0) for seq in range(3, 6)]
    for item in grouped[:2]:
        index.add(item, item.filings)
    assert not index.remove(grouped[2], grouped[2].filings)
    assert index.remove(grouped[0], grouped[0].filings)
    assert list(index.lookup({"a": 1, "b": 4})) == [grouped[1]]


def test_unknown_keyword_names_it_and_the_allowed_ones() -> None:
    with pytest.raises(UnknownKeywordError) as raised:
        normalize_spec({"rolle": "admin"}, KEYWORDS)
    assert isinstance(raised.value, ValueError)
    assert raised.value.keywords == ("rolle",)
    assert "'rolle'" in str(raised.value)
    assert "('a', 'b', 'c')" in str(raised.value)


def test_unhashable_value_is_a_type_error_naming_the_keyword() -> None:
    with pytest.raises(UnhashableValueError) as raised:
        normalize_spec({"a": ["admin"]}, KEYWORDS)
    assert isinstance(raised.value, TypeError)
    assert raised.value.keyword == "a"
    assert "'a'" in str(raised.value) and "list" in str(raised.value)
