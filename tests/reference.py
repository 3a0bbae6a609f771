"""An independent, deliberately plain transcription of the update rules for the tests.

Pure Python floats and lists, one iterate at a time, written in the order of the authors'
PyTorch code (scale = ρ / (‖g‖ + ε); e = g · scale; γ = ‖g‖ / (‖g̃‖ + ε)). It shares no code
with the package, so agreement to rounding error means the package implements the equations.
"""

import math


def norm(x):
    return math.sqrt(sum(t * t for t in x))


def reference_step(name, w, buf, grad, lr, rho, *, truncate=False, adaptive=False,
                   momentum=0.0, weight_decay=0.0, eps=0.0):
    """One step for a single iterate ``w`` (list of floats). Returns (w_new, buf, gamma)."""
    w = [float(t) for t in w]
    g = list(grad(w))
    gamma = 1.0
    if name == "sgd":
        d = g
    else:
        s = [abs(t) for t in w] if adaptive else [1.0] * len(w)
        sg = norm([a * b for a, b in zip(s, g)])
        if name in ("sam", "nssam"):
            den = sg + eps
            scale = rho / den if den > 0 else 0.0
        else:
            scale = rho
        if adaptive:
            e = [t * t * gi * scale for t, gi in zip(w, g)]
        else:
            e = [gi * scale for gi in g]
        wp = [a + b for a, b in zip(w, e)]
        gt = list(grad(wp))
        if name in ("ssam", "nssam"):
            sp = [abs(t) for t in wp] if adaptive else [1.0] * len(w)
            den = norm([a * b for a, b in zip(sp, gt)]) + eps
            gamma = sg / den if den > 0 else 1.0
            if truncate:
                gamma = min(1.0, gamma)
            d = [gamma * t for t in gt]
        else:
            d = gt
    d = [di + weight_decay * wi for di, wi in zip(d, w)]
    if momentum:
        buf = list(d) if buf is None else [momentum * b + di for b, di in zip(buf, d)]
        d = buf
    return [wi - lr * di for wi, di in zip(w, d)], buf, gamma
