"""Tests of the numeric engine: values against exact derivatives, and honest error estimates.

Exact values come from SymPy at 50 significant digits with the point taken as the exact
binary value of the float64 input (``sympy.Rational(x)``), so for sin at 1e8 the reference
is the cosine of the double nearest 1e8.
"""

from __future__ import annotations

import doctest

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derivcheck.engines import numeric as finite_diff
from derivcheck.engines.numeric.derivatives import directional, hessian, jacobian, one_sided
from derivcheck.engines.numeric.sampling import NumericDerivative

X = sympy.Symbol("x")
DIGITS = 50


def batched(g):
    """A scalar elementwise numpy function as a batched (k, 1) -> (k, 1) function."""
    return lambda p: g(p[:, 0])[:, None]


def exact_derivative(expr: sympy.Expr, x: float) -> float:
    return float(sympy.diff(expr, X).subs(X, sympy.Rational(x)).evalf(DIGITS))


def numeric(expr: sympy.Expr, x: float, *, complex_step: bool = False) -> NumericDerivative:
    g = sympy.lambdify(X, expr, modules="numpy")
    with np.errstate(all="ignore"):
        return jacobian(batched(g), np.array([x]), complex_step=complex_step)


def assert_covered(result: NumericDerivative, exact: np.ndarray) -> None:
    """The actual error is within the estimated error, entry by entry."""
    actual = np.abs(result.value - exact)
    assert np.all(actual <= result.error), f"actual {actual!r} exceeds estimate {result.error!r}"


# --------------------------------------------------------------------------------------------
# Hard single-variable cases: value accuracy and an error estimate that covers it
# --------------------------------------------------------------------------------------------

HARD = [
    # (label, expression, point, relative accuracy required of the real ladder)
    ("log near 0", sympy.log(X), 1e-3, 1e-11),
    ("log nearer 0", sympy.log(X), 1e-6, 1e-11),
    ("sqrt near 0", sympy.sqrt(X), 1e-3, 1e-11),
    ("sqrt nearer 0", sympy.sqrt(X), 1e-6, 1e-11),
    ("rapid oscillation", sympy.sin(1 / X), 0.01, 1e-10),
    ("far from zero", sympy.sin(X), 1e8, 1e-11),
    ("very large values", sympy.exp(X), 40.0, 1e-12),
    ("gradient of size 1e-9", sympy.Float(1e-9) * sympy.sin(X), 0.7, 1e-12),
    ("ordinary", sympy.atan(X), 0.5, 1e-12),
    ("ordinary polynomial", X**3 - 2 * X, 2.0, 1e-13),
]


@pytest.mark.parametrize(("label", "expr", "x", "tolerance"), HARD, ids=[case[0] for case in HARD])
def test_real_ladder_hard_cases(label, expr, x, tolerance):
    result = numeric(expr, x)
    exact = exact_derivative(expr, x)
    assert result.value.shape == (1, 1)
    assert abs(result.value[0, 0] - exact) <= tolerance * abs(exact)
    assert_covered(result, exact)
    # Honest but not useless: the estimate is within a few orders of magnitude of the truth.
    assert result.error[0, 0] <= 1e3 * tolerance * abs(exact)


@pytest.mark.parametrize(("label", "expr", "x", "tolerance"), HARD, ids=[case[0] for case in HARD])
def test_complex_step_hard_cases(label, expr, x, tolerance):
    result = numeric(expr, x, complex_step=True)
    exact = exact_derivative(expr, x)
    assert result.method[0, 0] == "complex-step"
    assert result.evaluations == 9  # the value and eight rounding samples
    assert abs(result.value[0, 0] - exact) <= 1e-14 * abs(exact)
    assert_covered(result, exact)
    assert result.error[0, 0] <= 1e-13 * abs(exact)


def test_large_constant_offset():
    # 1e10 + x**2 rounds every value to 2e-6: the derivative 3 is only known to ~1e-6.
    expr = sympy.Integer(10) ** 10 + X**2
    result = numeric(expr, 1.5)
    assert abs(result.value[0, 0] - 3.0) <= 1e-6 * 3.0
    assert_covered(result, 3.0)
    assert result.error[0, 0] <= 1e-4
    exact_cs = numeric(expr, 1.5, complex_step=True)
    assert exact_cs.value[0, 0] == 3.0


def test_noise_beyond_eps_times_f_is_measured():
    # log(1 + x*x) at small x rounds 1 + x*x: absolute error eps, far above eps * |f|.  Without
    # measuring the noise the estimate claimed 5e-17 for an actual error of 4e-15.
    b, x = 2.014886334605452, -0.00670738450375442
    expr = b * sympy.log(1 + X**2)
    result = numeric(expr, x)
    assert_covered(result, exact_derivative(expr, x))


def test_sin_much_farther_from_zero_is_honest():
    # sin at 1e10 needs steps ~1e-11 of |x|; the large steps agree with one another by accident.
    x = 1e10
    result = jacobian(np.sin, np.array([x]))
    exact = float(mpmath.cos(mpmath.mpf(x)))
    assert_covered(result, exact)
    assert abs(result.value[0, 0] - exact) <= 1e-7


# --------------------------------------------------------------------------------------------
# Shapes, vector-valued functions, directional derivatives
# --------------------------------------------------------------------------------------------


def vector_function(p):
    x, y = p[:, 0], p[:, 1]
    return np.stack([x * x * y, np.sin(x) + np.exp(y), np.log(x) * y], axis=1)


def vector_jacobian(x, y):
    return np.array([[2 * x * y, x * x], [np.cos(x), np.exp(y)], [y / x, np.log(x)]])


def test_jacobian_of_vector_valued_function():
    x = np.array([0.7, -0.4])
    result = jacobian(vector_function, x)
    for name in ("value", "error", "method", "step"):
        assert getattr(result, name).shape == (3, 2)
    assert result.value.dtype == np.float64
    assert result.method.dtype == object
    assert set(result.method.ravel()) <= {"central-richardson", "forward-richardson", "backward-richardson"}
    assert isinstance(result.evaluations, int)
    assert np.all(result.error >= 0)
    exact = vector_jacobian(*x)
    assert np.allclose(result.value, exact, rtol=1e-12, atol=1e-13)
    assert_covered(result, exact)


def test_jacobian_complex_step_of_vector_valued_function():
    x = np.array([0.7, -0.4])
    result = jacobian(vector_function, x, complex_step=True)
    assert np.all(result.method == "complex-step")
    assert result.evaluations == 18  # nine complex samples per input
    assert_covered(result, vector_jacobian(*x))


def test_directional_derivative_of_two_variable_function():
    x = np.array([0.7, -0.4])
    vectors = np.array([[0.6, 0.8], [1.0, 0.0], [-3.0, 2.5]])  # the last is not a unit vector
    exact = vector_jacobian(*x) @ vectors.T
    for complex_step in (False, True):
        result = directional(vector_function, x, vectors, complex_step=complex_step)
        assert result.value.shape == (3, 3)
        assert np.allclose(result.value, exact, rtol=1e-12, atol=1e-13)
        assert_covered(result, exact)


def test_directional_cost_does_not_grow_with_n():
    def f(p):
        return np.stack([np.sin(p.sum(axis=1)), np.tanh(p @ np.linspace(-1, 1, p.shape[1]))], axis=1)

    counts = []
    for n in (3, 300):
        x = np.linspace(0.1, 0.5, n) / n
        vectors = np.random.default_rng(n).normal(size=(2, n))
        result = directional(f, x, vectors)
        counts.append(result.evaluations)
        w = np.linspace(-1, 1, n)
        exact = np.array([np.cos(x.sum()) * vectors.sum(axis=1), (1 - np.tanh(x @ w) ** 2) * (vectors @ w)])
        assert_covered(result, exact)
    assert counts[0] == counts[1]
    assert counts[0] <= 2 * 60


def test_directional_over_inputs_of_very_different_sizes():
    # Along a general vector the components of x + t v round separately (here x_0 ~ 3e7 has
    # ulps of 4e-9), so the moved point is not on the line; that jitter must show in the error.
    x = np.array([2.75484720e07, -7.10263797e01, 3.94065468e05, -3.91169831e02])
    scale = np.maximum(np.abs(x), 1.0)
    weights = np.array([0.7, 1.3, 1.9, 0.6])

    def f(p):
        u = p / scale
        return np.stack([np.sum(weights * np.sin(u), axis=1), np.sum(weights * np.log1p(u * u), axis=1)], axis=1)

    u = x / scale
    gradients = np.stack([weights * np.cos(u) / scale, weights * 2 * u / (1 + u * u) / scale])
    vectors = np.array([[-2.79277204e-01, 5.41835039e-02, 4.40785806e-04, 3.20892307e-05], [1e-6, 1.0, -1e-3, 0.5]])
    exact = gradients @ vectors.T
    for complex_step in (False, True):
        result = directional(f, x, vectors, complex_step=complex_step)
        assert_covered(result, exact)
        assert np.all(result.error <= 1e-9 * np.abs(exact))


def test_few_batched_calls():
    calls = []

    def f(p):
        calls.append(p.shape)
        return np.stack([np.log(p[:, 0]), np.sin(p[:, 1])], axis=1)

    result = jacobian(f, np.array([1e-6, 2.0]))
    assert len(calls) <= 3
    assert result.evaluations == sum(shape[0] for shape in calls)
    assert all(shape[1] == 2 for shape in calls)


def test_deterministic():
    x = np.array([0.3, 1.7])
    first = jacobian(vector_function, x)
    second = jacobian(vector_function, x)
    assert np.array_equal(first.value, second.value)
    assert np.array_equal(first.error, second.error)
    assert first.evaluations == second.evaluations


# --------------------------------------------------------------------------------------------
# Domains, non-finite values, kinks
# --------------------------------------------------------------------------------------------


def test_domain_wall_uses_the_side_inside():
    # Defined (and smooth) only for x >= 0: every central stencil at x = 0 has a nan.
    wall = batched(lambda t: np.where(t >= 0, t * t + t, np.nan))
    result = jacobian(wall, np.array([0.0]))
    assert result.method[0, 0] == "forward-richardson"
    assert abs(result.value[0, 0] - 1.0) <= 1e-13
    assert_covered(result, 1.0)


def test_value_undefined_at_the_point_itself():
    # sin(x)/x is nan at 0, but the central stencil never samples 0.
    with np.errstate(all="ignore"):
        result = jacobian(batched(lambda t: np.sin(t) / t), np.array([0.0]))
    assert result.method[0, 0] == "central-richardson"
    assert abs(result.value[0, 0]) <= result.error[0, 0] <= 1e-12


def test_no_finite_estimate_gives_nan_and_infinite_error():
    result = jacobian(lambda p: np.full((p.shape[0], 1), np.nan), np.array([1.0]))
    assert np.isnan(result.value[0, 0])
    assert result.error[0, 0] == np.inf
    assert result.method[0, 0] == "none"


def test_infinite_derivative_is_not_claimed_precisely():
    with np.errstate(all="ignore"):
        result = jacobian(batched(np.sqrt), np.array([0.0]))
    assert not np.isfinite(result.value[0, 0]) or result.error[0, 0] >= abs(result.value[0, 0])


def test_complex_step_falls_back_where_f_is_not_analytic():
    # abs of a complex number is its modulus (real): the complex step says nothing.
    result = jacobian(batched(np.abs), np.array([-2.0]), complex_step=True)
    assert result.method[0, 0] != "complex-step"
    assert abs(result.value[0, 0] + 1.0) <= 1e-13


def test_complex_step_on_a_branch_cut_is_not_trusted():
    # log(-2 + i t) = log 2 + i pi: Im / t is not a derivative, and the real log is nan there.
    with np.errstate(all="ignore"):
        result = jacobian(batched(np.log), np.array([-2.0]), complex_step=True)
    assert not np.isfinite(result.value[0, 0]) or result.error[0, 0] >= abs(result.value[0, 0])


def relu(p):
    return np.maximum(p, 0.0)


@pytest.mark.parametrize(
    ("f", "direction", "left", "right"),
    [(relu, 1.0, 0.0, 1.0), (np.abs, 1.0, -1.0, 1.0), (np.abs, -2.0, -2.0, 2.0), (relu, -1.0, -1.0, 0.0)],
)
def test_one_sided_at_a_kink(f, direction, left, right):
    lo, hi, error = one_sided(f, np.array([0.0]), np.array([[direction]]))
    assert lo.shape == hi.shape == error.shape == (1, 1)
    assert abs(lo[0, 0] - left) <= error[0, 0] <= 1e-9
    assert abs(hi[0, 0] - right) <= error[0, 0]


def test_one_sided_just_beside_a_kink_sees_one_side():
    # relu at x = 1e-12: both one-sided derivatives are 1 (the kink is not at x).
    lo, hi, error = one_sided(relu, np.array([1e-12]), np.array([[1.0]]))
    assert abs(lo[0, 0] - 1.0) <= error[0, 0] <= 1e-6
    assert abs(hi[0, 0] - 1.0) <= error[0, 0]


def test_one_sided_of_smooth_function_agree():
    x = np.array([0.7, -0.4])
    vectors = np.array([[1.0, 0.0], [0.6, 0.8]])
    lo, hi, error = one_sided(vector_function, x, vectors)
    exact = vector_jacobian(*x) @ vectors.T
    assert lo.shape == (3, 2)
    assert np.all(np.abs(lo - hi) <= 2 * error)
    assert np.all(np.abs(lo - exact) <= error)
    assert np.all(np.abs(hi - exact) <= error)
    assert np.all(error <= 1e-9)


# --------------------------------------------------------------------------------------------
# Hessian
# --------------------------------------------------------------------------------------------


def rosenbrock(p):
    return ((1 - p[:, 0]) ** 2 + 100 * (p[:, 1] - p[:, 0] ** 2) ** 2)[:, None]


@pytest.mark.parametrize("point", [(1.0, 1.0), (-1.2, 1.0), (0.3, -2.5), (2.0, 40.0)])
def test_hessian_of_rosenbrock(point):
    x0, x1 = point
    result = hessian(rosenbrock, np.array(point))
    exact = np.array([[1200 * x0**2 - 400 * x1 + 2, -400 * x0], [-400 * x0, 200.0]])
    assert result.value.shape == result.error.shape == result.method.shape == (2, 2)
    assert np.array_equal(result.value, result.value.T)
    assert np.allclose(result.value, exact, rtol=1e-10, atol=1e-9)
    assert_covered(result, exact)
    assert np.all(result.method == "central-richardson")


def test_hessian_of_three_variable_function():
    a, b, c = sympy.symbols("a b c")
    expr = sympy.sin(a * b) + sympy.exp(sympy.Rational(3, 10) * c) * a**2 + sympy.log(b)
    point = np.array([0.7, 1.3, -0.4])
    exact = np.array(
        sympy.hessian(expr, (a, b, c)).subs({s: sympy.Rational(v) for s, v in zip((a, b, c), point)}).evalf(30),
        dtype=float,
    )
    f = sympy.lambdify((a, b, c), expr, modules="numpy")
    result = hessian(lambda p: f(p[:, 0], p[:, 1], p[:, 2])[:, None], point)
    assert np.allclose(result.value, exact, rtol=1e-9, atol=1e-10)
    assert_covered(result, exact)


def test_hessian_beside_a_domain_boundary():
    # log(x0) + sqrt(x1) * x0 at x0 = 1e-4: every step above 1e-4 leaves the domain.
    f = lambda p: (np.log(p[:, 0]) + np.sqrt(p[:, 1]) * p[:, 0])[:, None]
    x0, x1 = 1e-4, 2.0
    with np.errstate(all="ignore"):
        result = hessian(f, np.array([x0, x1]))
    exact = np.array([[-1 / x0**2, 0.5 / np.sqrt(x1)], [0.5 / np.sqrt(x1), -0.25 * x0 * x1**-1.5]])
    assert np.all(np.isfinite(result.value))
    assert_covered(result, exact)
    # The mixed entry shares the step exponent of both inputs, so x0's boundary keeps x1's
    # step tiny too: it is the least accurate, yet honest.
    assert np.all(result.error <= 1e-4 * np.abs(exact))


def test_hessian_needs_a_scalar_function():
    with pytest.raises(ValueError, match="scalar function"):
        hessian(vector_function, np.array([0.7, -0.4]))


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: jacobian(vector_function, np.ones((2, 2))), r"shape \(n,\).*\(2, 2\)"),
        (lambda: jacobian(vector_function, np.array([1.0, np.nan])), r"finite.*nan"),
        (lambda: directional(vector_function, np.ones(2), np.ones(2)), r"shape \(d, 2\).*\(2,\)"),
        (lambda: directional(vector_function, np.ones(2), np.zeros((1, 2))), r"nonzero.*row 0"),
        (lambda: jacobian(lambda p: np.ones((3, 1)), np.ones(2)), r"\(k, m\).*\(3, 1\)"),
    ],
)
def test_bad_input_is_rejected_with_the_rule_and_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_one_dimensional_output_is_accepted():
    result = jacobian(lambda p: np.sin(p[:, 0]), np.array([0.5]))
    assert result.value.shape == (1, 1)


def test_docstring_examples_run():
    import importlib
    import pkgutil

    total = 0
    for info in pkgutil.iter_modules(finite_diff.__path__):
        module = importlib.import_module(f"{finite_diff.__name__}.{info.name}")
        failures, tried = doctest.testmod(module, verbose=False)
        assert failures == 0, info.name
        total += tried
    assert total >= 4


# --------------------------------------------------------------------------------------------
# The error estimate bounds the actual error across a family of smooth functions
# --------------------------------------------------------------------------------------------

A, B = sympy.symbols("a b")
FAMILY = [
    sympy.sin(A * X + B),
    sympy.exp(A * X) * B,
    B * sympy.log(1 + X**2),
    1 / (1 + A * X**2),
    sympy.tanh(A * X) + B,
    X**3 - A * X + B,
    sympy.atan(A * X),
    sympy.sqrt(X**2 + A),
    sympy.exp(-(X**2)) * sympy.cos(A * X),
    X * sympy.log(X**2 + B),
    10**6 * B + sympy.sin(X),
    1 / (1 + sympy.exp(-A * X)),
    sympy.log(sympy.cosh(A * X)),
]
_COMPILED = [
    (sympy.lambdify((X, A, B), expr, modules="numpy"), sympy.lambdify((X, A, B), sympy.diff(expr, X), modules="mpmath"))
    for expr in FAMILY
]


def family_case(index: int, a: float, b: float, x: float) -> tuple[NumericDerivative, NumericDerivative, float]:
    f, derivative = _COMPILED[index]
    with mpmath.workdps(DIGITS):
        exact = float(derivative(mpmath.mpf(x), mpmath.mpf(a), mpmath.mpf(b)))
    g = batched(lambda t: f(t, a, b))
    with np.errstate(all="ignore"):
        return jacobian(g, np.array([x])), jacobian(g, np.array([x]), complex_step=True), exact


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(FAMILY) - 1),
    a=st.floats(0.2, 5.0),
    b=st.floats(0.1, 3.0),
    magnitude=st.floats(-3.0, 1.0),
    sign=st.sampled_from([-1.0, 1.0]),
)
def test_error_estimate_bounds_actual_error(index, a, b, magnitude, sign):
    real, complex_step, exact = family_case(index, a, b, sign * 10.0**magnitude)
    assert abs(real.value[0, 0] - exact) <= real.error[0, 0]
    assert abs(complex_step.value[0, 0] - exact) <= complex_step.error[0, 0]
    # Not uselessly pessimistic either (the 1e6 offset limits the real ladder to ~1e-8).
    assert real.error[0, 0] <= 1e-6 * max(abs(exact), 1.0)


# --- rounding the noise probe cannot see ---------------------------------------------------------

GELU_C = float(np.sqrt(2 / np.pi))


def gelu(p):
    return 0.5 * p * (1 + np.tanh(GELU_C * (p + 0.044715 * p**3)))


@pytest.mark.parametrize("complex_step", [False, True])
def test_gelu_far_tail_error_covers_quantised_rounding(complex_step):
    # At x = -6, 1 + tanh(...) ~ 3e-11 is quantised in steps of eps while 0.5 * x ~ -3, so f
    # carries an absolute rounding of ~3e-16, far above eps * |f| ~ 1e-26, and the noise probe
    # (a few thousand ulps of x) sees f smooth.  Small-step quotients then agreed at 1.4e-11
    # (the slope of 0.5 * x * const) and were reported as 1.4e-11 +- 2e-18.
    mpmath.mp.dps = DIGITS
    c = mpmath.sqrt(2 / mpmath.pi)
    exact = float(mpmath.diff(lambda p: p / 2 * (1 + mpmath.tanh(c * (p + mpmath.mpf("0.044715") * p**3))), -6))
    assert exact == pytest.approx(-7.7099739e-10, rel=1e-7)
    result = jacobian(gelu, np.array([-6.0]), complex_step=complex_step)
    value, error = result.value[0, 0], result.error[0, 0]
    assert abs(value - exact) <= error
    assert abs(value - exact) <= 0.1 * abs(exact) or error >= abs(value)
