"""Platt-style calibration in numpy: the layer every home model refits nightly."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]


def fit_platt(
    margin: Float,
    y: Float,
    *,
    prior: tuple[float, float] = (1.0, 0.0),
    strength: float = 1.0,
    weights: Float | None = None,
    iterations: int = 50,
) -> tuple[float, float]:
    """Fit p = sigmoid(a * margin + b) by Newton's method with a Gaussian prior.

    The prior pulls (a, b) towards `prior` with precision `strength` per
    parameter, so a home with a handful of positives barely moves the model;
    with many rows the data dominates.
    """
    m = np.asarray(margin, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=np.float64)
    theta = np.array(prior, dtype=np.float64)
    center = theta.copy()
    design = np.stack([m, np.ones_like(m)], axis=1)
    for _ in range(iterations):
        z = design @ theta
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
        grad = design.T @ (w * (p - t)) + strength * (theta - center)
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + strength * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(theta[0]), float(theta[1])


def apply_platt(margin: Float, a: float, b: float) -> Float:
    """Calibrated probabilities from raw margins."""
    z = np.clip(a * np.asarray(margin, dtype=np.float64) + b, -35, 35)
    out: Float = (1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    return out


def rescale_horizon(p: Float, from_days: float, to_days: float) -> Float:
    """Convert a probability over one horizon to another at a constant hazard."""
    if from_days == to_days:
        return p
    q = np.clip(1.0 - p, 0.0, 1.0)
    out: Float = (1.0 - q ** (to_days / from_days)).astype(np.float64)
    return out
