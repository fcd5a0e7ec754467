"""
Tests for the pure matching layer: spec normalisation and L{SpecIndex},
checked against a brute-force reference model.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twisted_event_dispatcher import UnhashableValueError, UnknownKeywordError
from twisted_event_dispatcher._matching import SpecIndex, index_key, normalize_spec, spec_matches

KEYWORDS = frozenset({"a", "b", "c"})
# Includes values that compare equal across types (1, 1.0, True), as dict keys do.
VALUES = st.sampled_from([0, 1, 2, "x", "y", (1, 2), True, 1.0, frozenset({3})])
SPECS = st.dictionaries(st.sampled_from(sorted(KEYWORDS)), VALUES | st.none(), max_size=3)
DETAILS = st.dictionaries(st.sampled_from(sorted(KEYWORDS)), VALUES, max_size=3)


class Item:
    """
    A dummy indexed item that remembers its spec and its registration order.
    """

    def __init__(self, order: int, spec: dict[str, object]) -> None:
        self.order = order
        self.keywords, self.values = normalize_spec(spec, KEYWORDS)

    def __repr__(self) -> str:
        return f"Item({self.order}, {dict(zip(self.keywords, self.values, strict=True))})"


def order_of(item: Item) -> int:
    return item.order


def filed(index: SpecIndex[Item], item: Item) -> None:
    index.add(item.keywords, index_key(item.keywords, item.values), item)


@settings(deadline=None, max_examples=300)
@given(
    specs=st.lists(SPECS, max_size=25),
    removals=st.lists(st.integers(min_value=0, max_value=24), max_size=10),
    fired=st.lists(DETAILS, min_size=1, max_size=5),
)
def test_index_agrees_with_brute_force(
    specs: list[dict[str, object]], removals: list[int], fired: list[dict[str, object]]
) -> None:
    """
    After any sequence of additions and removals, a lookup returns exactly the
    items the reference definition matches, in registration order.
    """
    index: SpecIndex[Item] = SpecIndex(order_of)
    live = [Item(order, spec) for order, spec in enumerate(specs)]
    for item in live:
        filed(index, item)
    for position in removals:
        if position < len(live):
            item = live.pop(position)
            assert index.remove(item.keywords, index_key(item.keywords, item.values), item)
    assert len(index) == len(live)
    assert index.items() == live
    for details in fired:
        expected = [item for item in live if spec_matches(item.keywords, item.values, details)]
        assert list(index.lookup(details)) == expected


def test_missing_keyword_does_not_match() -> None:
    """
    A keyword the spec constrains but the details do not carry means no match.
    """
    keywords, values = normalize_spec({"a": 1}, KEYWORDS)
    assert not spec_matches(keywords, values, {"b": 1})
    index: SpecIndex[Item] = SpecIndex(order_of)
    filed(index, Item(0, {"a": 1}))
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
    index: SpecIndex[Item] = SpecIndex(order_of)
    item = Item(0, {"a": 1})
    assert not index.remove(item.keywords, 1, item)
    filed(index, item)
    other = Item(1, {"a": 1})
    assert not index.remove(other.keywords, 1, other)
    assert index.remove(item.keywords, 1, item)
    assert not index.remove(item.keywords, 1, item)
    wild = Item(2, {})
    assert not index.remove((), (), wild)


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
