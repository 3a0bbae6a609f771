"""st.Symbolic: derivatives against hand derivatives and central differences, Beale equal to
st.Beale, batches equal rows, bad input, pickling and the cache fingerprint, use in runs and
sweeps."""

import pickle

import numpy as np
import pytest
import sympy as sp

import ssam_theory as st
from ssam_theory.landscapes import BEALE_EXPR
from ssam_theory.sweep import landscape_fingerprint

QUARTIC = "0.5*x**2 - 0.5*y**2 + 0.25*y**4"

CASES = {
    # name: (landscape, offset of the random test points)
    "quadratic": (st.Symbolic("a*x**2/2 + c*x*y - y**2/2", a=3.0, c=0.5), 0.0),
    "beale": (st.Symbolic(str(BEALE_EXPR)), np.array([2.5, 0.5])),
    "quartic_saddle": (st.Symbolic(QUARTIC), 0.0),
}


def _fd(fn, W, h):
    """Central differences of ``fn`` along every coordinate, for a batch ``W (B, d)``:
    ``(B, d, ...)``."""
    cols = []
    for k in range(W.shape[1]):
        e = np.zeros(W.shape[1])
        e[k] = h
        cols.append((fn(W + e) - fn(W - e)) / (2 * h))
    return np.stack(cols, axis=1)


def test_hand_derivatives_of_a_quadratic_with_parameters():
    f = CASES["quadratic"][0]
    assert f.variables == ("x", "y") and f.dim == 2 and f.params == {"a": 3.0, "c": 0.5}
    w = np.array([1.5, -2.0])
    # f = 1.5x² + 0.5xy − y²/2: exact in binary floating point at these points
    assert f.loss(w) == 1.5 * 2.25 + 0.5 * 1.5 * -2.0 - 2.0
    np.testing.assert_array_equal(f.grad(w), [3.0 * 1.5 + 0.5 * -2.0, 0.5 * 1.5 + 2.0])
    np.testing.assert_array_equal(f.hessian(w), [[3.0, 0.5], [0.5, -1.0]])


def test_hand_derivatives_of_the_quartic_saddle():
    f = CASES["quartic_saddle"][0]
    W = np.array([[0.0, 0.0], [0.5, 2.0], [-1.0, -0.5]])
    x, y = W.T
    np.testing.assert_allclose(f.grad(W), np.stack([x, -y + y**3], axis=1), rtol=1e-15)
    H = f.hessian(W)
    np.testing.assert_allclose(H[:, 1, 1], -1 + 3 * y**2, rtol=1e-15)
    np.testing.assert_array_equal(H[:, 0, 0], 1.0)
    np.testing.assert_array_equal(H[:, 0, 1], 0.0)


@pytest.mark.parametrize("name", CASES)
def test_gradient_and_hessian_match_central_differences_on_random_batches(name):
    """Central differences with h = 1e-5 err by O(h²)|f'''| + O(ε|f|/h) ≈ 1e-9 relative on
    these O(1)-scaled points (Beale's values reach ~1e2, hence the absolute 1e-5 there);
    a wrong term in a derivative errs by O(1)."""
    f, offset = CASES[name]
    W = np.random.default_rng(3).uniform(-1, 1, size=(16, 2)) + offset
    atol = 1e-5 if name == "beale" else 1e-7
    np.testing.assert_allclose(f.grad(W), _fd(f.loss, W, 1e-5), rtol=1e-6, atol=atol)
    np.testing.assert_allclose(f.hessian(W), _fd(f.grad, W, 1e-5), rtol=1e-6, atol=atol)


def test_beale_by_formula_equals_st_beale_to_rounding_error():
    """Both are compiled from the same sympy expression, the formula one with common
    subexpressions factored: only rounding differs (a few ulps of the largest term)."""
    f, B = st.Symbolic(str(BEALE_EXPR)), st.Beale()
    W = np.random.default_rng(0).uniform(-2, 4, size=(1000, 2))
    scale = np.abs(B.grad(W)).max(axis=1, keepdims=True) + 1.0
    assert np.max(np.abs(f.grad(W) - B.grad(W)) / scale) < 1e-13
    np.testing.assert_allclose(f.loss(W), B.loss(W), rtol=1e-13)
    for w in W[:20]:
        np.testing.assert_allclose(f.hessian(w), B.hessian(w), rtol=1e-13, atol=1e-11)
    np.testing.assert_array_equal(f.grad(B.saddle), [0.0, 0.0])
    np.testing.assert_allclose(np.linalg.eigvalsh(f.hessian(B.saddle)), [-27.75, 27.75],
                               rtol=1e-14)


@pytest.mark.parametrize("name", CASES)
def test_a_batch_equals_its_rows_bit_for_bit(name):
    f, offset = CASES[name]
    W = np.random.default_rng(5).normal(size=(7, 2)) + offset
    G, L, H = f.grad(W), f.loss(W), f.hessian(W)
    for i, w in enumerate(W):
        np.testing.assert_array_equal(G[i], f.grad(w))
        assert L[i] == f.loss(w)
        np.testing.assert_array_equal(H[i], f.hessian(w))
    assert f.loss(W[0]).shape == () and G.shape == W.shape and H.shape == (7, 2, 2)
    np.testing.assert_array_equal(f.grad(np.asfortranarray(W)), G)


def test_constant_derivatives_are_broadcast_and_unused_variables_allowed():
    f = st.Symbolic("3*x + y**2/2", variables=("y", "x", "z"))
    assert f.variables == ("y", "x", "z") and f.dim == 3
    W = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(f.grad(W), np.stack([W[:, 0], np.full(4, 3.0),
                                                       np.zeros(4)], axis=1))
    H = f.hessian(W)
    np.testing.assert_array_equal(H, np.broadcast_to(np.diag([1.0, 0.0, 0.0]), (4, 3, 3)))
    np.testing.assert_array_equal(st.Symbolic("x", variables=("x",)).hessian([2.0]), [[0.0]])


def test_sympy_expressions_are_accepted_and_variables_sorted_by_name():
    b, a = sp.symbols("b a")
    f = st.Symbolic(a**2 + 2 * b)
    assert f.variables == ("a", "b")
    np.testing.assert_array_equal(f.grad([1.0, 5.0]), [2.0, 2.0])
    assert "a**2" in repr(f)


BAD = [
    ("", {}, "non-empty"),
    ("   ", {}, "non-empty"),
    ("x +", {}, "could not be parsed"),
    ("x**2 + I*y", {}, "complex"),
    ("sqrt(-1)*x", {}, "complex"),
    ("x > 0", {}, "scalar formula"),
    ("3", {}, "at least one variable"),
    ("a*x**2", {"variables": ("x",)}, "unbound parameter"),
    ("x**2", {"a": 1.0}, "not a free symbol"),
    ("a*x", {"a": 1.0, "variables": ("x", "a")}, "both as a variable and as a parameter"),
    ("a*x", {"a": float("nan")}, "finite"),
    ("log(x)", {}, "non-finite"),
    ("1/x + y", {"check_at": [1.0]}, "check_at must have shape"),
    ("1/(x - 1)", {"check_at": [1.0]}, "non-finite"),
]


@pytest.mark.parametrize(("expr", "kw", "match"), BAD)
def test_bad_input_is_a_value_error_naming_the_problem(expr, kw, match):
    with pytest.raises(ValueError, match=match):
        st.Symbolic(expr, **kw)


def test_bad_types_are_type_errors():
    with pytest.raises(TypeError, match="expr"):
        st.Symbolic(3.0)
    with pytest.raises(TypeError, match="a must be a real number"):
        st.Symbolic("a*x", a="1")
    with pytest.raises(TypeError, match="variables"):
        st.Symbolic("x", variables="x")


def test_a_check_point_admits_formulas_singular_at_the_origin():
    f = st.Symbolic("log(x)", check_at=[1.0])
    np.testing.assert_allclose(f.grad([2.0]), [0.5], rtol=1e-15)


def test_overflow_far_from_the_check_point_gives_inf_without_warnings():
    f = st.Symbolic("exp(x)")
    assert f.loss([1000.0]) == np.inf  # pytest turns any NumPy warning into an error


def test_pickles_and_fingerprints_cover_expression_and_parameters_exactly():
    f = st.Symbolic("a*x**2/2 - y**2/2", a=3.0)
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g.grad([1.0, 2.0]), f.grad([1.0, 2.0]))
    same = st.Symbolic("a*x**2/2 - y**2/2", a=3.0)
    assert landscape_fingerprint(g) == landscape_fingerprint(f) == landscape_fingerprint(same)
    # the next float after 3.0, a different formula with the same printed form, a float
    # coefficient differing in the 17th digit: all different fingerprints
    others = [st.Symbolic("a*x**2/2 - y**2/2", a=np.nextafter(3.0, 4.0)),
              st.Symbolic("a*x**2/2 - y**2/2 + 0*x", a=3.0, check_at=[1.0, 0.0]),
              st.Symbolic("0.30000000000000004*x**2 - y**2/2"),
              st.Symbolic("0.3*x**2 - y**2/2")]
    prints = {landscape_fingerprint(o) for o in others}
    assert len(prints) == len(others) and landscape_fingerprint(f) not in prints
    # nothing compiled is an attribute (a function's repr would change every process)
    assert not any(callable(x) for x in vars(f).values())


def test_runs_like_any_landscape_and_matches_the_quadratic():
    f = st.Symbolic("5*x**2 + y**2/2")
    q = st.Quadratic(np.diag([10.0, 1.0]))
    opt = st.optimizer("ssam", lr=np.array([0.05, 0.1]), rho=0.1)
    a = st.run(opt, f, [1.0, 1.0], 30)
    b = st.run(opt, q, [1.0, 1.0], 30)
    # 5x² differentiates to 10.0*x, the quadratic computes x*10.0: the same product
    np.testing.assert_array_equal(a.final, b.final)


def test_sgd_near_the_quartic_saddle_escapes_on_every_seed():
    """The basin y = ±1 lies at distance 1 from the saddle, so the escape radius is 0.5."""
    f = st.Symbolic(QUARTIC)
    res = st.sweep(f, "sgd", lr=[0.05, 0.2], rho=0.0, steps=400, seeds=8,
                   saddle=np.zeros(2), escape_radius=0.5, progress=False)
    assert np.all(res.outcome == st.Outcome.ESCAPED)


def test_sweep_with_a_cache_resumes_from_the_same_fingerprint(tmp_path):
    f = st.Symbolic("0.5*x**2 - b*y**2/2", b=1.0)
    kw = dict(lr=[0.1, 0.5], rho=[0.0, 2.0], steps=50, seeds=3, saddle=np.zeros(2),
              progress=False)
    first = st.sweep(f, "usam", cache_dir=tmp_path, **kw)
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    again = st.sweep(st.Symbolic("0.5*x**2 - b*y**2/2", b=1.0), "usam", cache_dir=tmp_path,
                     **kw)
    np.testing.assert_array_equal(first.outcome, again.outcome)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == files
    st.sweep(st.Symbolic("0.5*x**2 - b*y**2/2", b=2.0), "usam", cache_dir=tmp_path, **kw)
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) > len(files)


def test_cli_sweeps_a_formula_with_workers_and_a_cache(tmp_path):
    from ssam_theory.cli import main

    out = tmp_path / "q.npz"
    args = ["sweep", "--landscape", "expr:0.5*x**2-0.5*y**2+0.25*y**4", "--rule", "sgd",
            "--lr", "0.1", "--rho", "0", "--steps", "300", "--seeds", "3", "--saddle",
            "--escape-radius", "0.5", "--workers", "2", "--cache", str(tmp_path / "c"),
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    res = st.SweepResult.load(out)
    assert np.all(res.outcome == st.Outcome.ESCAPED)


@pytest.mark.parametrize(("text", "match"), [
    ("expr:x +", "could not be parsed"), ("expr:", "non-empty"), ("expr:x**2 + y", "saddle"),
])
def test_cli_formula_errors_name_the_problem(tmp_path, capsys, text, match):
    from ssam_theory.cli import main

    args = ["sweep", "--landscape", text, "--rule", "sgd", "--lr", "0.1", "--rho", "0",
            "--steps", "3", "--saddle", "--out", str(tmp_path / "o.npz"), "--no-progress"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err
