"""Plots: numeric functions, PNG files that exist, and identical bytes for identical input."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

from derivcheck.engines.numpy_eval import numeric
from derivcheck.language.functions import relu, sigmoid, softplus
from derivcheck.report.plots import contour_plot, directional_plot, directional_values, tangent_plot

x, y = sympy.symbols("x y", real=True)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_numeric_maps_the_case_language_functions():
    f = numeric(sigmoid(x) + softplus(y) + relu(x - y) + sympy.erf(x), [x, y])
    xs, ys = np.array([0.0, 1.5, -2.0]), np.array([0.0, -0.5, 3.0])
    want = [
        1 / (1 + math.exp(-a)) + math.log1p(math.exp(b)) + max(a - b, 0.0) + math.erf(a)
        for a, b in zip(xs, ys)
    ]
    assert f(xs, ys) == pytest.approx(want, rel=1e-12)


def test_numeric_is_stable_far_out_and_broadcasts_constants():
    s = numeric(sigmoid(x) + softplus(x), [x])
    assert s(np.array([-800.0, 800.0])) == pytest.approx([0.0, 801.0])
    c = numeric(sympy.Integer(3), [x, y])
    assert c(np.zeros((2, 3)), np.zeros((2, 3))).shape == (2, 3)
    # outside the real domain: nan, not a complex number or an exception
    g = numeric(sympy.log(x) + sympy.sqrt(x), [x])
    out = g(np.array([-1.0, 4.0]))
    assert math.isnan(out[0]) and out[1] == pytest.approx(math.log(4) + 2)


def test_directional_values_peak_at_the_gradient():
    grad = (2.0, 4.0)
    theta = np.linspace(-180, 180, 3601)
    values = directional_values(grad, theta)
    peak = theta[np.argmax(values)]
    assert peak == pytest.approx(math.degrees(math.atan2(4, 2)), abs=0.1)
    assert values.max() == pytest.approx(math.hypot(*grad), rel=1e-6)
    # D_u f = grad . u along the axes
    assert directional_values(grad, [0.0, 90.0]) == pytest.approx([2.0, 4.0])


def test_tangent_plot_writes_a_deterministic_png(tmp_path):
    f = numeric(x * sympy.sin(x), [x])
    slope = float(sympy.diff(x * sympy.sin(x), x).subs(x, 1))
    a = tangent_plot(f, [(1.0, slope)], tmp_path / "a" / "t.png", label="x sin(x)")
    b = tangent_plot(f, [(1.0, slope)], tmp_path / "b" / "t.png", label="x sin(x)")
    c = tangent_plot(f, [(1.0, slope + 1)], tmp_path / "c" / "t.png", label="x sin(x)")
    d = tangent_plot(f, [(1.0, slope), (-2.0, 0.5)], tmp_path / "d" / "t.png", label="x sin(x)")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()  # the tangent is really drawn from the slope
    assert a.read_bytes() != d.read_bytes()  # a second tangent is drawn
    with pytest.raises(ValueError):
        tangent_plot(f, [], tmp_path / "e.png")
    assert png_size(a) == (720, 540)
    assert b"Software" not in a.read_bytes()  # no matplotlib version in the metadata


def test_contour_and_directional_plots(tmp_path):
    f = numeric(x**2 + y**2, [x, y])
    dirs = [(1 / math.sqrt(2), 1 / math.sqrt(2)), (0.6, 0.8), (1.0, 0.0)]
    c1 = contour_plot(f, (1, 2), (2, 4), dirs, tmp_path / "c1.png", label="z")
    c2 = contour_plot(f, (1, 2), (2, 4), dirs, tmp_path / "c2.png", label="z")
    c3 = contour_plot(f, (1, 2), (2, 4), dirs[:1], tmp_path / "c3.png", label="z")
    assert c1.read_bytes() == c2.read_bytes()
    assert c1.read_bytes() != c3.read_bytes()
    assert png_size(c1) == (640, 720)
    d1 = directional_plot((2, 4), dirs, tmp_path / "d1.png", label="z")
    d2 = directional_plot((2, 4), dirs, tmp_path / "d2.png", label="z")
    assert d1.read_bytes() == d2.read_bytes()
    assert png_size(d1) == (720, 540)


def test_plots_survive_undefined_and_flat_functions(tmp_path):
    nowhere = numeric(sympy.log(-x**2 - y**2 - 1), [x, y])  # nan everywhere
    contour_plot(nowhere, (0, 0), (float("nan"), 0.0), [], tmp_path / "nan.png")
    flat = numeric(sympy.Integer(1), [x, y])
    contour_plot(flat, (0, 0), (0, 0), [(1, 0)], tmp_path / "flat.png")
    directional_plot((0, 0), [(0, 1)], tmp_path / "zero.png")
    tangent_plot(numeric(sympy.log(x), [x]), [(0.0, float("inf"))], tmp_path / "log.png")
    assert all(png_size(tmp_path / n)[0] > 0 for n in ("nan.png", "flat.png", "zero.png", "log.png"))


def test_plot_style_does_not_leak_or_depend_on_global_state(tmp_path):
    import matplotlib

    f = numeric(x**3, [x])
    a = tangent_plot(f, [(0.5, 0.75)], tmp_path / "a.png")
    before = dict(matplotlib.rcParams)
    with matplotlib.rc_context({"lines.linewidth": 7, "font.size": 20}):
        b = tangent_plot(f, [(0.5, 0.75)], tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    assert dict(matplotlib.rcParams) == before


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, derivcheck.report.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
