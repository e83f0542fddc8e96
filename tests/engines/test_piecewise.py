"""where() in the engines: the exact walk takes only the branch that holds, the switching set
is a kink, torch selects with torch.where, NumPy with np.where."""

from __future__ import annotations

import numpy as np
import sympy
import torch

from derivcheck.engines.autograd import compile_torch
from derivcheck.engines.exact import evaluate, kinks, substitution
from derivcheck.engines.numpy_eval import numeric
from derivcheck.engines.rounding import term_size
from derivcheck.language.parser import parse

x, y = sympy.symbols("x y", real=True)
CLASSIC = parse("where(x**2 + y**2 == 0, 0, x*y*(x**2 - y**2)/(x**2 + y**2))", {"x": x, "y": y})


def test_the_exact_walk_evaluates_only_the_branch_that_holds() -> None:
    # the other branch is 0/0 at the origin: no error, the value is 0
    assert evaluate(CLASSIC, substitution([x, y], [0, 0])) == 0
    away = evaluate(CLASSIC, substitution([x, y], [sympy.Rational(1, 2), 1]))
    assert abs(away - sympy.Rational(1, 2) * (sympy.Rational(1, 4) - 1) / sympy.Rational(5, 4)) < 1e-30


def test_the_switching_set_is_a_kink_and_only_there() -> None:
    f = parse("where(x < y, x, y**2)", {"x": x, "y": y})
    assert kinks([f], substitution([x, y], [1, 1])) == [f]
    assert kinks([f], substitution([x, y], [0, 1])) == []


def test_torch_and_numpy_select_the_same_branch_as_sympy() -> None:
    f = parse("where(x > 0 and not (y >= 1) or x == -1, sin(x), cos(y))", {"x": x, "y": y})
    points = np.array([[0.5, 0.5], [0.5, 2.0], [-1.0, 3.0], [-2.0, 0.0]])
    expected = [float(f.subs({x: a, y: b})) for a, b in points]
    compiled = compile_torch([x, y], [f])
    assert np.allclose(compiled(torch.from_numpy(points))[:, 0].numpy(), expected, rtol=1e-15)
    assert np.allclose(numeric(f, [x, y])(points[:, 0], points[:, 1]), expected, rtol=1e-15)


def test_torch_differentiates_the_branch_that_holds() -> None:
    f = parse("where(x < 1, x**3, 2*x)", {"x": x})
    compiled = compile_torch([x], [f])
    point = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(compiled(point).sum(), point)
    assert float(grad[0]) == 0.75


def test_term_size_follows_the_branch_that_holds() -> None:
    f = parse("where(x < 1, 3*x - 2, 100*x)", {"x": x})
    assert term_size(f, {x: 2 / 3}) == 4.0


def test_conditions_on_irrational_constants_are_decided_exactly() -> None:
    # sin(pi/4) == sqrt(2)/2 holds exactly; a float comparison could go either way
    f = parse("where(sin(x) == sqrt(2)/2, 1, 2) + where(cos(x) < sqrt(2)/2, 10, 20)", {"x": x})
    assert float(evaluate(f, substitution([x], [sympy.pi / 4]))) == 21.0
