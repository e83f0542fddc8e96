"""Teaching plots as deterministic PNG files: the same input gives the same bytes.

* :func:`tangent_plot`: a function of one variable with its tangent line at a point;
* :func:`contour_plot`: contour lines of a function of two variables, the gradient arrow and the
  given directions at the point;
* :func:`directional_plot`: D_u f against the angle of the unit vector u, a cosine of amplitude
  |grad f| peaking at the gradient's angle.

matplotlib is imported inside the functions (module import stays light) and used through its
object API with the Agg canvas: no pyplot, no global figure state. Figures use fixed sizes, dpi,
style and fonts, and PNG metadata without a software version.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from derivcheck.engines.numpy_eval import Numeric

#: figure sizes in inches and resolution: 720 x 540 pixels (640 x 720 for square contour plots)
FIGSIZE = (7.2, 5.4)
CONTOUR_FIGSIZE = (6.4, 7.2)
DPI = 100
#: points sampled along x for curves, and per side of the contour grid
CURVE_SAMPLES = 401
GRID_SAMPLES = 161


@contextmanager
def _style() -> Iterator[Any]:
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update({
            "font.family": "DejaVu Sans",
            "font.size": 10,
            "axes.titlesize": 10,
            "svg.hashsalt": "derivcheck",
            "path.simplify": False,
        })
        yield matplotlib


def _figure(mpl: Any, size: tuple[float, float] = FIGSIZE) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


def _save(fig: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _legend_below(fig: Any, ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    fig.subplots_adjust(bottom=0.26, top=0.93)
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, ncol=2, frameon=False)


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _robust_limits(values: np.ndarray, *, keep: Sequence[float] = ()) -> tuple[float, float] | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = np.percentile(finite, [2, 98])
    low, high = min(low, *keep) if keep else low, max(high, *keep) if keep else high
    if high - low < 1e-12:
        low, high = low - 1.0, high + 1.0
    pad = 0.08 * (high - low)
    return float(low - pad), float(high + pad)


def tangent_plot(
    f: Numeric,
    tangents: Sequence[tuple[float, float]],
    path: Path,
    *,
    var: str = "x",
    label: str = "f(x)",
    half_width: float | None = None,
) -> Path:
    """Plot ``f`` with its tangent line ``f(x0) + slope (x - x0)`` at each point; write a PNG.

    Parameters
    ----------
    f : callable
        Vectorised: numpy array in, numpy array out (see :func:`numeric`).
    tangents : sequence of (x0, slope)
        The points and the derivative at each.
    path : Path
        Where to write the PNG (folders are created).
    var, label : str
        Axis name and the function's text for the title.
    half_width : float, optional
        Margin around the points; by default max(2, |x0|/2) for the farthest point.

    Examples
    --------
    >>> import numpy as np
    >>> tangent_plot(np.square, [(1.0, 2.0)], Path("/tmp/tangent.png"))  # doctest: +SKIP
    PosixPath('/tmp/tangent.png')
    """
    pairs = [(float(a), float(b)) for a, b in tangents]
    if not pairs:
        raise ValueError("tangent_plot needs at least one (x0, slope)")
    xs0 = [a for a, _ in pairs]
    half = float(half_width) if half_width else max(2.0, max(abs(a) for a in xs0) / 2)
    xs = np.linspace(min(xs0) - half, max(xs0) + half, CURVE_SAMPLES)
    with np.errstate(all="ignore"):
        ys = np.asarray(f(xs), dtype=float)
        y0s = [float(v) for v in np.asarray(f(np.array(xs0)), dtype=float)]
    palette = ["tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    with _style() as mpl:
        fig, ax = _figure(mpl)
        ax.plot(xs, np.where(np.isfinite(ys), ys, np.nan), color="tab:blue", linewidth=2, label=_short(label))
        for i, ((x0, slope), y0) in enumerate(zip(pairs, y0s)):
            if not math.isfinite(y0):
                continue
            if not math.isfinite(slope):  # a kink: no tangent line
                ax.plot([x0], [y0], "o", color="black", zorder=5)
                ax.annotate(f"no tangent at {var} = {_fmt(x0)}", (x0, y0), textcoords="offset points",
                            xytext=(8, -14))
                continue
            color = palette[i % len(palette)]
            near = np.abs(xs - x0) <= half
            ax.plot(xs[near], y0 + slope * (xs[near] - x0), color=color, linestyle="--", linewidth=1.5,
                    label=f"tangent at {var} = {_fmt(x0)}: slope {_fmt(slope)}")
            ax.plot([x0], [y0], "o", color="black", zorder=5)
            ax.annotate(f"({_fmt(x0)}, {_fmt(y0)})", (x0, y0), textcoords="offset points", xytext=(8, -14))
        limits = _robust_limits(ys, keep=[v for v in y0s if math.isfinite(v)])
        if limits:
            ax.set_ylim(*limits)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_xlabel(var)
        touching = [a for a, b in pairs if math.isfinite(b)]
        if touching:
            where = ", ".join(_fmt(a) for a in touching)
            ax.set_title(_short(f"{label} and its tangent at {var} = {where}", 90))
        else:
            ax.set_title(_short(f"{label} near {var} = {', '.join(_fmt(a) for a in xs0)}", 90))
        ax.grid(True, alpha=0.3)
        _legend_below(fig, ax)
        return _save(fig, path)


def contour_plot(
    f: Numeric,
    point: Sequence[float],
    gradient: Sequence[float],
    directions: Sequence[Sequence[float]],
    path: Path,
    *,
    names: Sequence[str] = ("x", "y"),
    label: str = "f",
    radius: float | None = None,
) -> Path:
    """Contour lines of ``f(x, y)`` around ``point``, the gradient arrow and the unit directions.

    Parameters
    ----------
    f : callable
        Vectorised ``f(X, Y)``.
    point, gradient : pair of float
        Where, and the gradient there; the gradient arrow is drawn normalised, labelled |∇f|.
    directions : sequence of pairs
        Unit vectors u1, u2, ... drawn as dashed arrows from the point.
    path : Path
        Where to write the PNG.
    names, label : str
        Axis names and the function's text for the title.
    radius : float, optional
        Half the side of the plotted square; by default max(2, 0.6 max |point|).

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x, y: x**2 + y**2
    >>> contour_plot(f, (1, 2), (2, 4), [(0.6, 0.8)], Path("/tmp/c.png"))  # doctest: +SKIP
    """
    px, py = (float(v) for v in point)
    gx, gy = (float(v) for v in gradient)
    r = float(radius) if radius else max(2.0, 0.6 * max(abs(px), abs(py)))
    xs = np.linspace(px - r, px + r, GRID_SAMPLES)
    ys = np.linspace(py - r, py + r, GRID_SAMPLES)
    X, Y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        Z = np.asarray(f(X, Y), dtype=float)
    Z = np.where(np.isfinite(Z), Z, np.nan)
    arrow = 0.45 * r
    norm = math.hypot(gx, gy)
    with _style() as mpl:
        fig, ax = _figure(mpl, CONTOUR_FIGSIZE)
        finite = Z[np.isfinite(Z)]
        if finite.size and np.ptp(finite) > 1e-12:
            low, high = np.percentile(finite, [1, 99])
            if high - low < 1e-12:
                low, high = float(finite.min()), float(finite.max())
            levels = np.linspace(low, high, 16)
            cs = ax.contour(X, Y, np.ma.masked_invalid(Z), levels=levels, cmap="viridis", linewidths=1)
            ax.clabel(cs, inline=True, fontsize=7, fmt="%.3g")
        ax.plot([px], [py], "o", color="black", zorder=5)
        if norm > 0 and math.isfinite(norm):
            ax.annotate("", xy=(px + arrow * gx / norm, py + arrow * gy / norm), xytext=(px, py),
                        arrowprops={"arrowstyle": "-|>", "color": "tab:red", "linewidth": 2.2})
            ax.plot([], [], color="tab:red", linewidth=2.2,
                    label=f"∇{label} = ({_fmt(gx)}, {_fmt(gy)}), |∇{label}| = {_fmt(norm)}")
        palette = ["tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
        for i, (ux, uy) in enumerate(directions, start=1):
            ux, uy = float(ux), float(uy)
            color = palette[(i - 1) % len(palette)]
            tip = (px + 0.8 * arrow * ux, py + 0.8 * arrow * uy)
            ax.annotate("", xy=tip, xytext=(px, py),
                        arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.5, "linestyle": "--"})
            ax.annotate(f"u{i}", tip, color=color, textcoords="offset points", xytext=(4, 4))
            ax.plot([], [], color=color, linestyle="--", label=f"u{i} = ({_fmt(ux)}, {_fmt(uy)})")
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        ax.set_aspect("equal")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_title(_short(f"contours of {label} near ({_fmt(px)}, {_fmt(py)})", 90))
        ax.grid(True, alpha=0.2)
        _legend_below(fig, ax)
        return _save(fig, path)


def directional_values(gradient: Sequence[float], theta_degrees: Any) -> Any:
    """D_u f = grad f . u for the unit vectors u = (cos θ, sin θ), θ in degrees.

    Examples
    --------
    >>> float(directional_values((3.0, 4.0), 53.13010235415598))
    5.0
    """
    gx, gy = (float(v) for v in gradient)
    radians = np.radians(np.asarray(theta_degrees, dtype=float))
    return gx * np.cos(radians) + gy * np.sin(radians)


def directional_plot(
    gradient: Sequence[float],
    directions: Sequence[Sequence[float]],
    path: Path,
    *,
    names: Sequence[str] = ("x", "y"),
    label: str = "f",
) -> Path:
    """D_u f = |∇f| cos(θ - θ_∇f) against the angle θ of the unit vector u; write a PNG.

    The curve peaks at |∇f| at the gradient's own angle; the axes (θ = 0°, 90°) and each given
    direction are marked on it.

    Examples
    --------
    >>> directional_plot((2, 4), [(0.6, 0.8)], Path("/tmp/d.png"))  # doctest: +SKIP
    """
    gx, gy = (float(v) for v in gradient)
    norm = math.hypot(gx, gy)
    peak = math.degrees(math.atan2(gy, gx))
    theta = np.linspace(-180.0, 180.0, 721)
    values = directional_values((gx, gy), theta)
    with _style() as mpl:
        fig, ax = _figure(mpl)
        ax.plot(theta, values, color="tab:blue", linewidth=2, label=f"D_u {label} = ∇{label} · u")
        ax.axhline(norm, color="tab:red", linestyle=":", linewidth=1)
        ax.axhline(-norm, color="tab:red", linestyle=":", linewidth=1)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.plot([peak], [norm], "o", color="tab:red", zorder=5,
                label=f"max |∇{label}| = {_fmt(norm)} at θ = {peak:.1f}° (the gradient)")
        for angle, axis_name in ((0.0, names[0]), (90.0, names[1])):
            ax.plot([angle], [gx * math.cos(math.radians(angle)) + gy * math.sin(math.radians(angle))],
                    "s", color="gray", zorder=4)
            ax.annotate(f"along {axis_name}", (angle, gx * math.cos(math.radians(angle)) + gy * math.sin(math.radians(angle))),
                        textcoords="offset points", xytext=(5, -12), color="gray", fontsize=8)
        palette = ["tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
        for i, (ux, uy) in enumerate(directions, start=1):
            ux, uy = float(ux), float(uy)
            angle = math.degrees(math.atan2(uy, ux))
            value = gx * ux + gy * uy
            color = palette[(i - 1) % len(palette)]
            ax.plot([angle], [value], "D", color=color, zorder=5, label=f"u{i}: θ = {angle:.1f}°, D_u {label} = {_fmt(value)}")
        ax.set_xlim(-180, 180)
        ax.set_xticks(np.arange(-180, 181, 45))
        ax.set_xlabel("angle θ of u (degrees from the +" + names[0] + " axis)")
        ax.set_ylabel(f"D_u {label}")
        ax.set_title(f"directional derivative against the angle of u: a cosine of amplitude |∇{label}|")
        ax.grid(True, alpha=0.3)
        _legend_below(fig, ax)
        return _save(fig, path)
