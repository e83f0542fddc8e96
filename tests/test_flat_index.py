"""The one flat-index <-> name mapping: round trips over random layouts, names checked against NumPy
and torch indexing (the value at a flat position is the value the label names), and the corner
shapes: 0-d, empty, multi-dimensional, complex, held entries, module parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from derivcheck.flat_index import Layout, Slot, find_slot, label
from derivcheck.gradcheck.flat_view import InputView
from derivcheck.model import Variable, entry_symbols

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
inputs = st.lists(st.tuples(shapes, st.booleans()), min_size=1, max_size=4)


def _layout(spec: list[tuple[tuple[int, ...], bool]]) -> Layout:
    return Layout.consecutive([f"in{k}" for k in range(len(spec))], [s for s, _ in spec], [c for _, c in spec])


@settings(max_examples=150, deadline=None)
@given(inputs)
def test_every_flat_index_round_trips_through_its_label(spec) -> None:
    layout = _layout(spec)
    assert layout.size == sum(int(np.prod(s, dtype=int)) * (2 if c else 1) for s, c in spec)
    for flat in range(layout.size):
        _, slot = layout.find(flat)
        index, part = slot.entry(flat)
        assert slot.flat(index, part) == flat
        assert layout.flat(layout.label(flat)) == flat
        assert layout.flat(slot.label(flat, sep=",")) == flat  # a case's symbol names read back too
    with pytest.raises(IndexError):
        layout.find(layout.size)


@settings(max_examples=100, deadline=None)
@given(inputs, st.randoms(use_true_random=False))
def test_a_label_names_the_entry_that_sits_at_its_flat_position(spec, rng) -> None:
    """The oracle is torch's own indexing: the real view's value at a flat position is the value
    of the element the label names (its real or imaginary part)."""
    tensors = []
    for shape, is_complex in spec:
        t = torch.arange(float(np.prod(shape, dtype=int)) * 2).reshape(*shape, 2) + 1000 * len(tensors)
        tensors.append(torch.view_as_complex(t) if is_complex else t[..., 0])
    view = InputView(tensors, [f"in{k}" for k in range(len(spec))])
    layout = Layout.from_slots(view.slots)
    for flat in (rng.randrange(view.n) for _ in range(min(view.n, 8))):
        k, slot = layout.find(flat)
        index, part = slot.entry(flat)
        element = tensors[k][index]
        expected = element.real if part == ".real" else element.imag if part == ".imag" else element
        assert view.x[flat] == float(expected)
        assert label(view.slots, flat) == slot.label(flat) and find_slot(view.slots, flat) is slot


def test_names_of_zero_d_empty_and_matrix_inputs() -> None:
    assert Slot("s", ()).labels() == ("s",)
    assert Slot("z", (), complex=True).labels() == ("z.real", "z.imag")
    assert Slot("e", (0, 3)).labels() == () and Slot("e", (0, 3)).size == 0
    assert Slot("w", (2, 3)).labels()[4] == "w[1, 1]"
    assert Slot("z", (2,), complex=True).labels() == ("z[0].real", "z[0].imag", "z[1].real", "z[1].imag")
    layout = Layout.consecutive(("a", "empty", "b"), ((2,), (0,), ()))  # an empty input takes no place
    assert [layout.label(j) for j in range(layout.size)] == ["a[0]", "a[1]", "b"]
    assert layout.offsets == (0, 2, 2) and layout.locate(2) == (2, ())


def test_a_case_variables_symbols_and_layout_use_the_same_names() -> None:
    assert [s.name for s in entry_symbols("w", (2, 2))] == ["w[0,0]", "w[0,1]", "w[1,0]", "w[1,1]"]
    assert [s.name for s in entry_symbols("x", ())] == ["x"]
    w = Variable.declare("w", (2, 3))
    assert [s.name for s in w.symbols] == list(Slot("w", (2, 3)).labels(sep=","))


def test_module_parameters_are_named_by_their_dotted_names() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module("fc1", torch.nn.Linear(8, 4))
    model.add_module("fc2", torch.nn.Linear(4, 1))
    params = dict(model.named_parameters())
    view = InputView(list(params.values()), list(params))
    layout = Layout.from_slots(view.slots)
    flat = layout.flat("fc1.weight[3, 7]")
    assert flat == 3 * 8 + 7 and layout.label(flat) == "fc1.weight[3, 7]"
    assert view.x[flat] == float(params["fc1.weight"][3, 7].detach())
    assert layout.label(layout.flat("fc2.bias[0]")) == "fc2.bias[0]"
    assert layout.names == ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


def test_held_entries_are_left_out_and_named_by_their_place_in_the_tensor() -> None:
    x = torch.tensor([[1.0, -float("inf")], [3.0, 4.0]])
    view = InputView([x], ["x"])
    slot = view.slots[0]
    assert slot.kept == (0, 2, 3) and slot.layout_shape == (3,)
    assert slot.labels() == ("x[0, 0]", "x[1, 0]", "x[1, 1]")
    assert slot.flat((1, 0)) == 1
    with pytest.raises(KeyError, match=r"x\[0, 1\] is held fixed"):
        slot.flat((0, 1))


def test_layout_in_the_vectors_own_terms() -> None:
    """Real-view shapes (a complex block's pairs on its last axis)."""
    layout = Layout(("b", "z"), ((3,), (2, 2)), (0, 3), complex=(False, True))
    assert layout.slots[1] == Slot("z", (2,), 3, complex=True) and layout.slots[1].paired
    assert layout.locate(6) == (1, (1, 1)) and layout.label(6) == "z[1].imag"


def test_bad_lookups_say_what_is_wrong() -> None:
    slot = Slot("w", (2, 3), offset=5)
    with pytest.raises(IndexError, match=r"flat index 11 is outside 'w' \(entries 5 to 10\)"):
        slot.label(11)
    with pytest.raises(IndexError, match=r"index \(2, 0\) is outside 'w' of shape \(2, 3\)"):
        slot.flat((2, 0))
    with pytest.raises(ValueError, match="'w' has no part '.imag'"):
        slot.flat((0, 0), ".imag")
    with pytest.raises(KeyError, match="no entry is named 'v\\[0\\]'"):
        Layout.from_slots([slot]).flat("v[0]")


def test_the_vectors_own_terms_describe_the_same_layout_as_its_slots() -> None:
    """A layout given as real-view shapes and pair flags locates and names every entry as the
    slots themselves do (held entries aside: only the slots know which are held)."""
    tensors = [torch.ones(2, 3), torch.ones(2, 2, dtype=torch.complex128), torch.tensor([1.0, -float("inf"), 2.0]),
               torch.tensor(3.0)]
    slots = InputView(tensors, ["a", "z", "m", "s"]).slots
    described = Layout(tuple(s.name for s in slots), tuple(s.layout_shape for s in slots),
                       tuple(s.offset for s in slots), complex=tuple(s.complex and s.kept is None for s in slots))
    direct = Layout.from_slots(slots)
    assert [s.paired for s in described.slots] == [s.paired for s in direct.slots] == [False, True, False, False]
    assert described.size == direct.size == 6 + 8 + 2 + 1
    for flat in range(direct.size):
        if direct.find(flat)[1].kept is None:
            assert described.locate(flat) == direct.locate(flat)
            assert described.label(flat) == direct.label(flat)
    assert direct.label(9) == "z[0, 1].imag" and direct.label(15) == "m[2]" and direct.label(16) == "s"
