"""Arrays that pin the numbers of runs and sweeps across refactors.

``compute()`` runs a fixed set of trajectories and sweeps through the public API only.
``tests/data/golden.npz`` holds what it returned when it was last regenerated (a deliberate,
reviewed step: ``python tests/golden.py``); ``tests/test_golden.py`` recomputes and compares
bit for bit, so a restructuring that changes any number fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ssam_theory as st

PATH = Path(__file__).with_name("data") / "golden.npz"


def compute() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    f = st.Quadratic.from_eigenvalues([10.0, 1.0, 0.1], seed=3)
    w0 = np.array([1.0, -0.5, 0.25])
    for name in st.RULES:
        opt = st.optimizer(name, lr=np.array([0.05, 0.15, 0.21]), rho=np.array([0.05, 0.3, 1.0]))
        tr = st.run(opt, f, np.tile(w0, (3, 1)), 60)
        out[f"run/{name}/loss"] = tr.loss
        out[f"run/{name}/gamma"] = tr.gamma
    opt = st.optimizer("nssam", lr=0.1, rho=0.2, truncate=True, momentum=0.9, weight_decay=1e-3)
    out["run/nssam_options/loss"] = st.run(opt, f, w0, 40).loss
    ds = st.data.synthetic_least_squares(seed=0)
    ls = ds.landscape()
    opt = st.optimizer("ssam", lr=np.array([0.01, 0.05]), rho=np.array([0.1, 0.5]))
    tr = st.run(opt, ls, np.zeros((2, ls.dim)), 30, batch_size=4, seed=2)
    out["run/ls_ssam/loss"] = tr.loss
    lg = st.data.synthetic_logistic(seed=1).landscape()
    opt = st.optimizer("usam", lr=np.array([0.1, 1.0]), rho=np.array([0.05, 0.5]))
    out["run/logistic_usam/loss"] = st.run(opt, lg, np.zeros((2, lg.dim)), 30, batch_size=8,
                                           seed=4).loss
    st_res = st.linear.coupled_stability(ds, lrs=(0.01, 0.05), rho=0.1, steps=40, seeds=(0, 1),
                                         batch_size=2)
    out["linear/coupled/delta"] = st_res.delta
    reg = st.linear.lr_regime(ds, lrs=(0.01, 0.1), rhos=(0.05, 0.5), steps=40, seeds=(0, 1),
                              batch_size=4)
    out["linear/regime/test_loss"] = reg.test_loss
    out["linear/regime/delta"] = reg.delta
    q = st.Quadratic(np.diag([10.0, 1.0]))
    for name in st.RULES:
        res = st.sweep(q, name, lr=np.linspace(0.02, 0.25, 6), rho=np.geomspace(0.01, 1, 4),
                       steps=200, seeds=3, progress=False)
        out[f"sweep/quad/{name}/outcome"] = res.outcome
        out[f"sweep/quad/{name}/event_step"] = res.event_step
        out[f"sweep/quad/{name}/final_w"] = res.final_w
    return out


if __name__ == "__main__":
    PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(PATH, **compute())
    print(f"wrote {PATH}")
