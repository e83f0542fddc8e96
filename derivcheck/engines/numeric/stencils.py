"""Difference quotients along directions: first derivatives and Hessian entries.
"""

from __future__ import annotations

import numpy as np

from derivcheck.engines.numeric.noise import _sample_error
from derivcheck.engines.numeric.sampling import _along, _Quotients


class _FirstDerivativeStencil:
    """Samples x +- t v; central, forward and backward quotients of the first derivative."""

    kinds = ("central", "forward", "backward")
    # Rounding error of a first difference grows like 1/t: doubling per halved step.
    growth = 2.0

    def __init__(self, x: np.ndarray, vectors: np.ndarray, scales: np.ndarray) -> None:
        self.x = x
        self.vectors = vectors
        self.scales = scales
        self.entries = vectors.shape[0]

    def points(self, entry: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        t = np.ldexp(self.scales[entry], -exponent)
        v = self.vectors[entry]
        plus = self.x + t[:, None] * v
        minus = self.x - t[:, None] * v
        pts = np.stack([plus, minus], axis=1)
        # The representable steps (x + t v) - x and x - (x - t v), see _along.
        sides = _along(pts, self.x, v, np.stack([t, -t], axis=1))
        t_plus, t_minus = sides[:, 0], -sides[:, 1]
        valid = np.ones(pts.shape[:2], dtype=bool)
        return pts, valid, {"t_plus": t_plus, "t_minus": t_minus}

    def probe(self) -> tuple[np.ndarray, np.ndarray]:
        """Directions and scales along which to measure the noise of f."""
        return self.vectors, self.scales

    def combine(self, aux: dict, values: np.ndarray, center: np.ndarray, sigma: np.ndarray) -> dict[str, _Quotients]:
        tp = aux["t_plus"][:, None]
        tm = aux["t_minus"][:, None]
        fp, fm = values[:, 0], values[:, 1]
        f0 = center[None, :]
        ep, em, e0 = _sample_error(fp, sigma), _sample_error(fm, sigma), _sample_error(f0, sigma)
        with np.errstate(all="ignore"):
            width = tp + tm
            central = (fp - fm) / width
            # Unequal representable steps (only where x +- t rounds: t > |x_i|, or x + t
            # crossing a power of two) leave a first-order error (tp - tm)/2 * f''; f'' comes
            # from the same three samples.
            second = 2.0 * (tm * fp - width * f0 + tp * fm) / (tp * tm * width)
            second = np.where(np.isfinite(second), np.abs(second), 2.0 * (np.abs(fp) + np.abs(fm)) / (tp * tm))
            bias = np.where(tp == tm, 0.0, 0.5 * np.abs(tp - tm) * second)
            central_noise = (ep + em) / width + bias
            forward = (fp - f0) / tp
            forward_noise = (ep + e0) / tp
            backward = (f0 - fm) / tm
            backward_noise = (e0 + em) / tm
        half = 0.5 * (aux["t_plus"] + aux["t_minus"])
        return {
            "central": _Quotients(central, central_noise, half**2, half),
            "forward": _Quotients(forward, forward_noise, aux["t_plus"], aux["t_plus"]),
            "backward": _Quotients(backward, backward_noise, aux["t_minus"], aux["t_minus"]),
        }


class _HessianStencil:
    """Second differences of a scalar function: entry e is the pair (rows[e], cols[e])."""

    kinds = ("central",)
    # Rounding error of a second difference grows like 1/t**2.
    growth = 4.0

    def __init__(self, x: np.ndarray, scales: np.ndarray) -> None:
        self.x = x
        self.scales = scales
        self.rows, self.cols = np.triu_indices(x.size)
        self.entries = self.rows.size

    def _coordinate(self, index: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rounded coordinates x_i + t and x_i - t of input ``index`` at step exponent."""
        t = np.ldexp(self.scales[index], -exponent)
        xi = self.x[index]
        return xi + t, xi - t

    def points(self, entry: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        i, j = self.rows[entry], self.cols[entry]
        plus_i, minus_i = self._coordinate(i, exponent)
        plus_j, minus_j = self._coordinate(j, exponent)
        diagonal = i == j
        off = ~diagonal
        count = entry.size
        pts = np.broadcast_to(self.x, (count, 4, self.x.size)).copy()
        rows = np.arange(count)
        # Slots: (+i +j), (+i -j), (-i +j), (-i -j); a diagonal entry uses (+i), (-i) only.
        for slot, (side_i, side_j) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
            pts[rows, slot, i] = plus_i if side_i > 0 else minus_i
            pts[rows[off], slot, j[off]] = (plus_j if side_j > 0 else minus_j)[off]
        pts[diagonal, 1, :] = pts[diagonal, 2, :]
        valid = np.ones((count, 4), dtype=bool)
        valid[diagonal, 2:] = False
        xi, xj = self.x[i], self.x[j]
        steps = {"pi": plus_i - xi, "mi": xi - minus_i, "pj": plus_j - xj, "mj": xj - minus_j}
        return pts, valid, {**steps, "diagonal": diagonal}

    def probe(self) -> tuple[np.ndarray, np.ndarray]:
        """Directions and scales along which to measure the noise of f."""
        return np.eye(self.x.size), self.scales

    def combine(self, aux: dict, values: np.ndarray, center: np.ndarray, sigma: np.ndarray) -> dict[str, _Quotients]:
        diagonal = aux["diagonal"][:, None]
        tp, tm = aux["pi"][:, None], aux["mi"][:, None]
        pj, mj = aux["pj"][:, None], aux["mj"][:, None]
        f0 = center[None, :]
        errors = _sample_error(values, sigma)
        e0 = _sample_error(f0, sigma)
        with np.errstate(all="ignore"):
            # Diagonal: second derivative through x - tm, x, x + tp.  Unequal representable
            # steps (only when t > |x_i|, and then tp - tm is an ulp of t) leave a bias
            # (tp - tm) * f_xxx / 3, far below the rounding term eps |f| / t**2.
            width = tp + tm
            wp, w0, wm = 2.0 / (tp * width), -2.0 / (tp * tm), 2.0 / (tm * width)
            diag = wp * values[:, 0] + w0 * f0 + wm * values[:, 1]
            diag_noise = wp * errors[:, 0] + np.abs(w0) * e0 + wm * errors[:, 1]
            # Off-diagonal: the four-corner mixed difference.
            area = (tp + tm) * (pj + mj)
            mixed = (values[:, 0] - values[:, 1] - values[:, 2] + values[:, 3]) / area
            mixed_noise = np.sum(errors, axis=1) / area
        value = np.where(diagonal, diag, mixed)
        noise = np.where(diagonal, diag_noise, mixed_noise)
        u = np.where(aux["diagonal"], aux["pi"] * aux["mi"], 0.25 * (aux["pi"] + aux["mi"]) * (aux["pj"] + aux["mj"]))
        return {"central": _Quotients(value, noise, u, np.sqrt(u))}
