"""Claim keys in the books' notation: order, numerator, denominator in Leibniz order."""

from __future__ import annotations

import pytest

from derivcheck.cases.leibniz import KeyError_, leibniz_label, parse_key


@pytest.mark.parametrize("key, names, numerator, denominator", [
    ("d/dx", ["x", "y"], "", ("x",)),
    ("d2/dx2", ["x", "y"], "", ("x", "x")),
    ("d2/dxdy", ["x", "y"], "", ("x", "y")),
    ("d3/dx2dy", ["x", "y"], "", ("x", "x", "y")),
    ("d3/dxdydz", ["x", "y", "z"], "", ("x", "y", "z")),
    ("d4/dx4", ["x"], "", ("x", "x", "x", "x")),
    ("dJ/da", ["a", "u"], "J", ("a",)),
    ("dJ/du", ["a", "u"], "J", ("u",)),
    ("d2y/dx2", ["x"], "y", ("x", "x")),
    ("d/dx2", ["x", "x2"], "", ("x2",)),  # a name with digits, order 1
    ("d2/dx2", ["x", "x2"], "", ("x", "x")),  # the order decides
    ("d2/dtheta2", ["r", "theta"], "", ("theta", "theta")),
])
def test_keys_read_as_the_books_write_them(key, names, numerator, denominator) -> None:
    parsed = parse_key(key, names)
    assert (parsed.numerator, parsed.denominator) == (numerator, denominator)


@pytest.mark.parametrize("key, names, message", [
    ("d/dq", ["x", "y"], "'q' is not a variable of this case"),
    ("d/dxx", ["x", "xy"], "'xx' is not a variable of this case"),
    ("d3/dx2", ["x"], "says order 3, but its denominator has order 2"),
    ("d5/dx5", ["x"], "order 5"),
    ("d2/dxdq", ["x"], "cannot read"),
    ("d/dx", [], "is not a variable"),
])
def test_keys_that_do_not_read_are_one_clear_reason(key, names, message) -> None:
    with pytest.raises(KeyError_, match=message):
        parse_key(key, names)


def test_a_hostile_key_does_not_explode() -> None:
    with pytest.raises(KeyError_):
        parse_key("d4/" + "dx" * 200, ["x", "xd", "dx"])


def test_labels_collapse_powers() -> None:
    assert leibniz_label("f", ["x", "x", "y"]) == "d3f/dx2dy"
    assert leibniz_label("J", ["u"]) == "dJ/du"
