"""Labels in the user's names; a narrower check's label stacks on the label it narrows."""

from __future__ import annotations

from derivcheck.gradcheck import labels
from derivcheck.gradcheck.causes import Layout
from derivcheck.gradcheck.labels import Labels

INPUTS = Layout(("W", "b"), ((2, 2), (2,)), (0, 4))
ONE = Labels(INPUTS, Layout(("loss",), ((),), (0,)), m=1)
MANY = Labels(INPUTS, Layout(("out",), ((3,),), (0,)), m=3)


def test_entries_name_the_tensors_and_their_indices() -> None:
    assert ONE.entry(0, 1) == "dloss/dW[0, 1]" and ONE.entry(0, 5) == "dloss/db[1]"
    assert MANY.entry(2, 4) == "dout[2]/db[0]"
    assert ONE.hessian(0, 4) == "d2loss/dW[0, 0]db[0]" and MANY.hessian(0, 0) == "d2(w . out)/dW[0, 0]dW[0, 0]"


def test_directional_labels_count_from_one() -> None:
    assert ONE.direction(0, 0) == "grad . u1" and MANY.direction(1, 2) == "w2 . J u3"
    assert ONE.jvp(0, 0) == "J u1" and MANY.jvp(1, 2) == "(J u2)[out[2]]"
    assert MANY.contracted(0, 5) == "(w1 . J)[b[1]]" and MANY.outputs_of(3) == "outputs block of input W[1, 1]"
    assert labels.hvp(0) == "v1 . H u1"


def test_block_labels_stack_on_the_check_they_narrow() -> None:
    level = labels.block(0, 16, MANY.direction(0, 1))
    assert level == "block 0:16 of w1 . J u2"
    assert labels.block(4, 8, level) == "block 4:8 of block 0:16 of w1 . J u2"
