"""``eps=1e-12`` reproduces the authors' PyTorch arithmetic, checked against PyTorch.

The optimizer below follows the structure of the authors' StableSAM code:
a first step that saves w and climbs to w + e with scale = ρ / (‖g‖ + 1e-12) (SAM base) or
ρ (USAM base), elementwise w² for ``adaptive``; a second step that restores w, multiplies the
surrogate gradient by ‖g‖ / (‖g̃‖ + 1e-12) (clipped at 1 with ``truncate``) and hands it to
``torch.optim.SGD`` (momentum, weight decay). Everything runs in float64 on the CPU.
"""

import numpy as np
import pytest
import torch

import ssam_theory as st


class TorchSAMFamily:
    def __init__(self, param, name, lr, rho, adaptive, truncate, momentum, weight_decay):
        self.p = param
        self.name, self.rho, self.adaptive, self.truncate = name, rho, adaptive, truncate
        self.base = torch.optim.SGD([param], lr=lr, momentum=momentum, weight_decay=weight_decay)

    def _grad_norm(self, p):
        scale = torch.abs(p) if self.adaptive else 1.0
        return (scale * p.grad).norm(p=2)

    @torch.no_grad()
    def first_step(self):
        p = self.p
        self.old_norm = self._grad_norm(p)
        if self.name in ("sam", "nssam"):
            scale = self.rho / (self.old_norm + 1e-12)
        else:
            scale = self.rho
        self.old_p = p.data.clone()
        e_w = (torch.pow(p, 2) if self.adaptive else 1.0) * p.grad * scale
        p.add_(e_w)  # w + e(w)

    @torch.no_grad()
    def second_step(self):
        p = self.p
        if self.name in ("ssam", "nssam"):
            new_norm = self._grad_norm(p)  # at w + e: s(w + e) ⊙ g̃
            ratio = self.old_norm / (new_norm + 1e-12)
            if self.truncate:
                ratio = torch.clamp(ratio, max=1.0)
            p.grad.mul_(ratio)
        p.data = self.old_p
        self.base.step()


def _torch_run(land, name, w0, steps, lr, rho, **opts):
    p = torch.tensor(w0, dtype=torch.float64, requires_grad=False)
    opt = TorchSAMFamily(p, name, lr, rho, **opts)

    def set_grad():
        p.grad = torch.from_numpy(land.grad(p.detach().numpy().copy()))

    for _ in range(steps):
        set_grad()
        opt.first_step()
        set_grad()
        opt.second_step()
    return p.detach().numpy()


OPTIONS = [
    {"adaptive": False, "truncate": False, "momentum": 0.0, "weight_decay": 0.0},
    {"adaptive": True, "truncate": False, "momentum": 0.0, "weight_decay": 0.0},
    {"adaptive": False, "truncate": True, "momentum": 0.9, "weight_decay": 5e-4},
    {"adaptive": True, "truncate": True, "momentum": 0.5, "weight_decay": 1e-2},
]


@pytest.mark.parametrize("name", ["sam", "usam", "ssam", "nssam"])
@pytest.mark.parametrize("opts", OPTIONS, ids=["plain", "adaptive", "trunc+mom+wd", "all"])
def test_eps_1e12_matches_pytorch(name, opts):
    """Ten steps on a dense indefinite quadratic. PyTorch and NumPy evaluate the same float64
    operations in the same order except the norm's summation, so they agree to a few ulps per
    step; 1e-13 relative after ten steps is far below any difference of formula."""
    if opts["truncate"] and name in ("sam", "usam"):
        opts = {**opts, "truncate": False}
    land = st.Quadratic.from_eigenvalues([4.0, 1.5, 0.3, -0.8], seed=2)
    w0 = np.array([0.7, -1.2, 0.4, 0.9])
    lr, rho = 0.05, 0.1
    expected = _torch_run(land, name, w0, 10, lr, rho, **opts)
    opt = st.optimizer(name, lr=lr, rho=rho, eps=1e-12, **opts)
    w, state = w0, opt.init(w0)
    for _ in range(10):
        w, state = opt.step(w, state, land.grad)
    np.testing.assert_allclose(w, expected, rtol=1e-13, atol=1e-15)


def test_eps_matters_only_at_tiny_gradients():
    """eps = 1e-12 and eps = 0 agree to ~eps/‖g‖ away from stationary points, and differ at one:
    there PyTorch's γ = 0/(0 + 1e-12) = 0 while the exact rule's γ = 1 (both give a zero step)."""
    land = st.Quadratic(np.diag([3.0, 1.0]))
    w = np.array([1.0, 1.0])
    a, _ = st.optimizer("ssam", lr=0.1, rho=0.2, eps=1e-12).step(w, None, land.grad)
    b, _ = st.optimizer("ssam", lr=0.1, rho=0.2).step(w, None, land.grad)
    np.testing.assert_allclose(a, b, rtol=1e-11)
    _, _, info = st.optimizer("ssam", lr=0.1, rho=0.2, eps=1e-12).step_with_info(
        np.zeros(2), None, land.grad)
    assert info.gamma == 0.0
