r"""Data sets for the linear-model experiments: synthetic generators and bundled real data.

Every data set is a :class:`Dataset`: a training set :math:`S = \{(x_i, y_i)\}_{i=1}^n`, a
test set, and a small *pool* of further examples drawn from the same source but kept out of
both, from which :func:`neighbour` takes the replacement :math:`z'` that turns :math:`S` into
the neighbouring set :math:`S' = S \setminus \{z_{i^*}\} \cup \{z'\}` of uniform stability
(Hardt, Recht & Singer, arXiv:1509.01240; Bousquet & Elisseeff 2002).

Preprocessing, the same for every source: features are standardized with the mean and
standard deviation of the *training* rows (applied unchanged to test and pool rows);
least-squares targets are standardized the same way (so :math:`f(0) = 1/2` on the training
set and no intercept is needed); logistic data sets get a constant feature 1 appended after
standardization (the intercept, counted in ``d``) and labels in :math:`\{-1, +1\}`.

Real data ship inside scikit-learn (no download): ``load_breast_cancer`` (logistic) and
``load_diabetes`` (least squares). The split is a seeded permutation from
``numpy.random.default_rng(seed)``.

Constants (per-example losses :math:`\ell_i`; LS :math:`\ell_i = (x_i^\top w - y_i)^2/2`,
logistic :math:`\ell_i = \log(1 + e^{-y_i x_i^\top w})`):

* :attr:`Dataset.beta` — curvature of the *training loss*
  :math:`\beta = \sup_w \lambda_{\max}(\nabla^2 f_S(w))`: LS :math:`\lambda_{\max}(X^\top X/n)`
  (the Hessian is constant), logistic :math:`\lambda_{\max}(X^\top X/(4n))` (attained at
  :math:`w = 0`). The thresholds :math:`2/\beta` and :math:`2/(\beta(1+\rho\beta))` of C14
  use this :math:`\beta`.
* :attr:`Dataset.beta_example` — smoothness of every *per-example* loss, over training and pool
  rows (so it covers :math:`S` and every neighbour :math:`S'`): LS :math:`\max_i\|x_i\|^2`,
  logistic :math:`\max_i\|x_i\|^2/4`. Hardt et al.'s condition :math:`\eta \le 2/\beta` (C13)
  uses this one.
* :attr:`Dataset.lipschitz` — logistic: :math:`L = \max_i \|x_i\|` (exact global Lipschitz
  constant of every :math:`\ell_i`, since
  :math:`\|\nabla\ell_i\| = \sigma(-y_i x_i^\top w)\|x_i\|`).
  Least squares is not globally Lipschitz (``None``); :mod:`ssam_theory.linear` then uses the
  largest per-example gradient norm along the trajectories actually visited.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import _validate as v
from .landscapes import LeastSquares, Logistic, random_rotation

__all__ = [
    "DATASETS",
    "TASKS",
    "TIGHT",
    "Dataset",
    "breast_cancer",
    "diabetes",
    "equal_norm_least_squares",
    "load",
    "neighbour",
    "synthetic_least_squares",
    "synthetic_logistic",
]

#: The two tasks: least squares (real targets) and logistic regression (labels ±1).
TASKS: tuple[str, ...] = ("least_squares", "logistic")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A training set, a test set and a pool of replacement examples, all preprocessed.

    Attributes:
        name: e.g. ``"diabetes"``.
        task: ``"least_squares"`` or ``"logistic"``.
        X: ``(n, d)`` training features; y: ``(n,)`` targets (labels ±1 for logistic).
        X_test, y_test: ``(n_test, d)``, ``(n_test,)``.
        X_pool, y_pool: ``(n_pool, d)``, ``(n_pool,)``: replacement examples for
            :func:`neighbour`, in neither the training nor the test set.
        replaced: ``None`` for an original set; ``(i, k)`` when training row ``i`` is pool
            row ``k`` (a neighbour built by :func:`neighbour`).
        info: free-form provenance (source, seed, preprocessing).
    """

    name: str
    task: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_pool: np.ndarray
    y_pool: np.ndarray
    replaced: tuple[int, int] | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        for a, b in (("X", "y"), ("X_test", "y_test"), ("X_pool", "y_pool")):
            Xa, yb = getattr(self, a), getattr(self, b)
            if Xa.ndim != 2 or yb.shape != (Xa.shape[0],):
                raise ValueError(f"{a} must be (m, d) and {b} (m,), got {Xa.shape} and "
                                 f"{yb.shape}")
            if Xa.shape[1] != self.X.shape[1]:
                raise ValueError(f"{a} must have d = {self.X.shape[1]} columns, got "
                                 f"{Xa.shape[1]}")
        for name in ("X", "y", "X_test", "y_test", "X_pool", "y_pool"):
            getattr(self, name).setflags(write=False)

    @property
    def n(self) -> int:
        """Number of training examples."""
        return self.X.shape[0]

    @property
    def d(self) -> int:
        """Number of features (logistic: including the intercept column)."""
        return self.X.shape[1]

    def landscape(self) -> LeastSquares | Logistic:
        """The training loss :math:`f_S` as a landscape of :mod:`ssam_theory.landscapes`."""
        return _landscape(self.task, self.X, self.y)

    def test_landscape(self) -> LeastSquares | Logistic:
        """The test loss (same per-example loss, test rows)."""
        return _landscape(self.task, self.X_test, self.y_test)

    @property
    def beta(self) -> float:
        r""":math:`\sup_w \lambda_{\max}\nabla^2 f_S(w)`: LS :math:`\lambda_{\max}(X^\top X/n)`,
        logistic :math:`\lambda_{\max}(X^\top X/(4n))`."""
        lam = float(np.linalg.eigvalsh(self.X.T @ self.X / self.n)[-1])
        return lam / 4.0 if self.task == "logistic" else lam

    @property
    def beta_example(self) -> float:
        r"""Per-example smoothness over training and pool rows: LS :math:`\max\|x_i\|^2`,
        logistic :math:`\max\|x_i\|^2/4`."""
        sq = float(np.max(_sq_norms(np.vstack([self.X, self.X_pool]))))
        return sq / 4.0 if self.task == "logistic" else sq

    @property
    def lipschitz(self) -> float | None:
        r"""Logistic: :math:`L = \max_i\|x_i\|` over training and pool rows; LS: ``None``
        (not globally Lipschitz)."""
        if self.task != "logistic":
            return None
        return float(np.sqrt(np.max(_sq_norms(np.vstack([self.X, self.X_pool])))))

    def summary(self) -> dict:
        """``n, d, n_test, n_pool, beta, beta_example, L`` as plain Python numbers."""
        return {"name": self.name, "task": self.task, "n": self.n, "d": self.d,
                "n_test": int(self.X_test.shape[0]), "n_pool": int(self.X_pool.shape[0]),
                "beta": self.beta, "beta_example": self.beta_example, "L": self.lipschitz}

    def __repr__(self):
        extra = "" if self.replaced is None else f", replaced={self.replaced}"
        return f"Dataset({self.name!r}, task={self.task!r}, n={self.n}, d={self.d}{extra})"


def _sq_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def _landscape(task, X, y):
    return LeastSquares(X, y) if task == "least_squares" else Logistic(X, y)


def neighbour(dataset: Dataset, index: int, replacement: int = 0) -> Dataset:
    r"""The neighbouring set :math:`S'`: training row ``index`` replaced by pool row
    ``replacement``.

    Everything else (the other :math:`n - 1` training rows, their order, the test set and the
    pool) is unchanged, so :math:`S` and :math:`S'` differ in exactly one example.

    Args:
        dataset: an original :class:`Dataset` (not itself a neighbour).
        index: :math:`i^* \in [0, n)`.
        replacement: :math:`k \in [0, n_{pool})`.

    Returns:
        A :class:`Dataset` with ``replaced == (index, replacement)``.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset, got {dataset!r}")
    if dataset.replaced is not None:
        raise ValueError(f"dataset is already a neighbour (replaced={dataset.replaced}); "
                         f"build neighbours from the original set")
    index = v.as_count("index", index)
    replacement = v.as_count("replacement", replacement)
    if index >= dataset.n:
        raise ValueError(f"index must be < n = {dataset.n}, got {index}")
    if replacement >= dataset.X_pool.shape[0]:
        raise ValueError(f"replacement must be < n_pool = {dataset.X_pool.shape[0]}, "
                         f"got {replacement}")
    X, y = dataset.X.copy(), dataset.y.copy()
    X[index], y[index] = dataset.X_pool[replacement], dataset.y_pool[replacement]
    differ = np.flatnonzero(np.any(X != dataset.X, axis=1) | (y != dataset.y))
    if differ.tolist() != [index]:
        raise ValueError(f"pool row {replacement} equals training row {index}; choose another "
                         f"replacement (rows differing: {differ.tolist()})")
    return replace(dataset, X=X, y=y, replaced=(index, replacement))


# --------------------------------------------------------------------------- preprocessing

def _standardize(parts: dict, *, target: bool, intercept: bool) -> tuple[dict, dict]:
    """Standardize every part with the training rows' statistics."""
    Xtr, ytr = parts["train"]
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    ymu, ysd = (ytr.mean(), ytr.std()) if target else (0.0, 1.0)
    out = {}
    for key, (X, y) in parts.items():
        Z = (X - mu) / sd
        if intercept:
            Z = np.hstack([Z, np.ones((Z.shape[0], 1))])
        out[key] = (Z, (y - ymu) / ysd if target else y.astype(np.float64))
    stats = {"feature_mean": mu.tolist(), "feature_std": sd.tolist()}
    if target:
        stats.update(target_mean=float(ymu), target_std=float(ysd))
    return out, stats


def _build(name, task, parts, info) -> Dataset:
    out, stats = _standardize(parts, target=task == "least_squares",
                              intercept=task == "logistic")
    info = dict(info, standardization="features (and LS targets) by training mean/std",
                intercept=task == "logistic", **stats)
    return Dataset(name, task, *out["train"], *out["test"], *out["pool"], info=info)


def _split_real(X, y, test_fraction, n_pool, seed):
    n_all = X.shape[0]
    test_fraction = v.as_real("test_fraction", test_fraction, low=0.0, high=1.0,
                              low_open=True, high_open=True)
    n_pool = v.as_count("n_pool", n_pool, low=1)
    perm = np.random.default_rng(seed).permutation(n_all)
    n_test = round(test_fraction * (n_all - n_pool))
    if n_all - n_pool - n_test < 2 or n_test < 1:
        raise ValueError(f"n_pool={n_pool} and test_fraction={test_fraction} leave too few "
                         f"rows of {n_all}")
    pool, test, train = np.split(perm, [n_pool, n_pool + n_test])
    return {"train": (X[train], y[train]), "test": (X[test], y[test]),
            "pool": (X[pool], y[pool])}


def breast_cancer(seed: int = 0, test_fraction: float = 0.3, n_pool: int = 16) -> Dataset:
    """scikit-learn's bundled Wisconsin breast cancer data (569 × 30), logistic regression.

    Labels: malignant (sklearn 0) → −1, benign (1) → +1. Split: ``n_pool`` rows to the pool,
    ``test_fraction`` of the rest to the test set, from ``default_rng(seed)``.
    """
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    parts = _split_real(X.astype(np.float64), 2.0 * y - 1.0, test_fraction, n_pool, seed)
    return _build("breast_cancer", "logistic", parts,
                  {"source": "sklearn.datasets.load_breast_cancer", "seed": seed})


def diabetes(seed: int = 0, test_fraction: float = 0.3, n_pool: int = 16) -> Dataset:
    """scikit-learn's bundled diabetes data (442 × 10), least squares on the standardized target.

    Split: ``n_pool`` rows to the pool, ``test_fraction`` of the rest to the test set,
    from ``default_rng(seed)``.
    """
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    parts = _split_real(X.astype(np.float64), y.astype(np.float64), test_fraction, n_pool, seed)
    return _build("diabetes", "least_squares", parts,
                  {"source": "sklearn.datasets.load_diabetes", "seed": seed})


def _correlated_features(rng, m, d, Q, scales):
    return (rng.standard_normal((m, d)) * scales) @ Q.T


def _synthetic_checks(n, d, n_test, n_pool, condition):
    return (v.as_count("n", n, low=2), v.as_count("d", d, low=1),
            v.as_count("n_test", n_test, low=1), v.as_count("n_pool", n_pool, low=1),
            v.as_real("condition", condition, low=1.0))


def synthetic_least_squares(n: int = 200, d: int = 20, noise: float = 0.5,
                            condition: float = 100.0, n_test: int = 1000, n_pool: int = 16,
                            seed: int = 0) -> Dataset:
    r"""Teacher least squares: :math:`y = x^\top w_\star + \sigma\xi`.

    :math:`x = Q\,\mathrm{diag}(s)\,z`, :math:`z \sim N(0, I_d)`, :math:`Q` Haar-random and
    :math:`s_j^2` geometric from 1 down to ``1/condition`` (correlated features);
    :math:`w_\star \sim N(0, I_d/d)`, :math:`\xi \sim N(0, 1)`. Train, test and pool rows are
    independent draws; all from ``default_rng(seed)``. Standardized as described in the module.
    """
    n, d, n_test, n_pool, condition = _synthetic_checks(n, d, n_test, n_pool, condition)
    noise = v.as_real("noise", noise, low=0.0)
    rng = np.random.default_rng(seed)
    Q = random_rotation(d, rng.integers(2**63))
    scales = np.sqrt(np.geomspace(1.0, 1.0 / condition, d))
    w_star = rng.standard_normal(d) / np.sqrt(d)
    parts = {}
    for key, m in (("train", n), ("test", n_test), ("pool", n_pool)):
        X = _correlated_features(rng, m, d, Q, scales)
        parts[key] = (X, X @ w_star + noise * rng.standard_normal(m))
    return _build("synthetic_least_squares", "least_squares", parts,
                  {"source": "teacher least squares", "seed": seed, "noise": noise,
                   "condition": condition, "w_star": w_star.tolist()})


def synthetic_logistic(n: int = 200, d: int = 20, margin: float = 0.25,
                       label_flip: float = 0.05, condition: float = 100.0, n_test: int = 1000,
                       n_pool: int = 16, seed: int = 0) -> Dataset:
    r"""Teacher logistic data with a margin: labels :math:`y = \operatorname{sign}(u^\top x)`.

    Features as in :func:`synthetic_least_squares`; :math:`u` a random unit vector. Every
    point is pushed away from the teacher's hyperplane by ``margin`` along :math:`u`
    (:math:`x \leftarrow x + \operatorname{margin}\cdot\operatorname{sign}(u^\top x)\,u`), so
    :math:`|u^\top x| \ge` ``margin`` before label noise; then each label is flipped
    independently with probability ``label_flip`` (noise keeps the minimizer finite).
    """
    n, d, n_test, n_pool, condition = _synthetic_checks(n, d, n_test, n_pool, condition)
    margin = v.as_real("margin", margin, low=0.0)
    label_flip = v.as_real("label_flip", label_flip, low=0.0, high=0.5)
    rng = np.random.default_rng(seed)
    Q = random_rotation(d, rng.integers(2**63))
    scales = np.sqrt(np.geomspace(1.0, 1.0 / condition, d))
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    parts = {}
    for key, m in (("train", n), ("test", n_test), ("pool", n_pool)):
        X = _correlated_features(rng, m, d, Q, scales)
        s = X @ u
        sign = np.where(s >= 0, 1.0, -1.0)
        X = X + margin * sign[:, None] * u
        flip = rng.random(m) < label_flip
        parts[key] = (X, np.where(flip, -sign, sign))
    return _build("synthetic_logistic", "logistic", parts,
                  {"source": "teacher logistic with margin", "seed": seed, "margin": margin,
                   "label_flip": label_flip, "condition": condition, "u": u.tolist()})


def equal_norm_least_squares(n: int = 200, d: int = 20, noise: float = 0.5,
                             n_test: int = 1000, n_pool: int = 16, seed: int = 0) -> Dataset:
    r"""Least squares with every row of norm :math:`\sqrt d`: the set where the stability
    condition of USAM is tight.

    :math:`x = \sqrt d\, z/\|z\|`, :math:`z \sim N(0, I_d)` (isotropic, so the features need no
    standardization and are left as drawn); :math:`y = x^\top w_\star + \sigma\xi`,
    :math:`w_\star \sim N(0, I_d/d)`, targets standardized with the training mean and std.
    With one example per step every minibatch loss has curvature exactly :math:`\|x_i\|^2 =
    d = \beta`, so USAM's step is non-expansive iff :math:`\eta \le 2/(\beta(1+\rho\beta))`
    (the sufficient condition is also necessary) and SGD's iff :math:`\eta \le 2/\beta`.
    """
    n, d, n_test, n_pool, _ = _synthetic_checks(n, d, n_test, n_pool, 1.0)
    noise = v.as_real("noise", noise, low=0.0)
    rng = np.random.default_rng(seed)
    w_star = rng.standard_normal(d) / np.sqrt(d)
    parts = {}
    for key, m in (("train", n), ("test", n_test), ("pool", n_pool)):
        Z = rng.standard_normal((m, d))
        X = np.sqrt(d) * Z / np.sqrt(_sq_norms(Z))[:, None]
        parts[key] = (X, X @ w_star + noise * rng.standard_normal(m))
    ymu, ysd = parts["train"][1].mean(), parts["train"][1].std()
    out = {k: (X, (y - ymu) / ysd) for k, (X, y) in parts.items()}
    info = {"source": "teacher least squares, rows of equal norm sqrt(d)", "seed": seed,
            "noise": noise, "standardization": "targets only (rows keep norm sqrt(d))",
            "target_mean": float(ymu), "target_std": float(ysd), "w_star": w_star.tolist()}
    return Dataset("equal_norm_least_squares", "least_squares", *out["train"], *out["test"],
                   *out["pool"], info=info)


_LOADERS = {
    "synthetic_least_squares": synthetic_least_squares,
    "synthetic_logistic": synthetic_logistic,
    "diabetes": diabetes,
    "breast_cancer": breast_cancer,
}

#: The four data sets of the linear-model claims, in the order used by tables and figures.
DATASETS: tuple[str, ...] = tuple(_LOADERS)

#: The data set where USAM's stability condition is tight (also accepted by :func:`load`).
TIGHT: str = "equal_norm_least_squares"
_LOADERS[TIGHT] = equal_norm_least_squares


def load(name: str, seed: int = 0, **kwargs) -> Dataset:
    """The data set ``name`` (one of :data:`DATASETS` or :data:`TIGHT`) from ``seed``; keywords
    go to its loader."""
    if not isinstance(name, str) or name not in _LOADERS:
        raise ValueError(f"name must be one of {', '.join(_LOADERS)}; got {name!r}")
    return _LOADERS[name](seed=seed, **kwargs)
