r"""The claims registry: every claim of the catalogue, derived, traced and checked.

Each :class:`Claim` has an id (C01–C19), a title, a statement, a source tag
(``classical``, ``derived``, ``peer``, ``paper``, ``observed``), the setting where it is
checked and a ``check(quick, rules)`` whose :class:`Result` (predicted, measured, verdict,
evidence) is computed from runs of the toolkit's own rules in that call. Verdicts are
``holds``, ``violated`` (with ``evidence["counterexample"]``) or ``inconclusive`` (with
``evidence["reason"]``). Formulas come from :mod:`ssam_theory.theory`.

>>> from ssam_theory.claims import REGISTRY, run_checks
>>> [(c.id, r.verdict) for c, r in run_checks(["C01"])]
[('C01', 'holds')]
"""

from __future__ import annotations

from . import descent, escape, linear, quadratic, regime, renormalization, saddles, stability
from . import network as _network
from ._base import SOURCES, VERDICTS, Claim, Result, Row, Rules, default_rules, make

__all__ = ["REGISTRY", "SOURCES", "VERDICTS", "Claim", "Result", "Row", "Rules", "by_id",
           "default_rules", "make", "markdown_table", "run_checks"]

_Q = ("f = ½wᵀHw, H = Q diag(λ) Qᵀ, seeded random spectra (λ_max = 10, κ up to 100 quick / "
      "1000 full)")

REGISTRY: tuple[Claim, ...] = (
    Claim("C01", "GD stability threshold",
          r"GD on $f = \tfrac12 w^\top H w$, $H \succ 0$, converges iff $\eta < 2/\lambda_{\max}$.",
          "classical", _Q + "; η = (1∓0.02)·2/λ_max, several starts", quadratic.check_c01),
    Claim("C02", "USAM stability threshold",
          r"USAM iterates $w \leftarrow (I - \eta(H + \rho H^2))w$: converges iff "
          r"$\eta(\lambda_{\max} + \rho\lambda_{\max}^2) < 2$; sharpest tolerated curvature "
          r"$\lambda^* = (\sqrt{1 + 8\rho/\eta} - 1)/(2\rho)$.",
          "derived; cf. Agarwala & Dauphin 2023",
          _Q + "; ρ ∈ {0.01, 0.1, 0.4}; η = (1∓δ)η* and λ_max = (1∓δ)λ*", quadratic.check_c02),
    Claim("C03", "SSAM extends the stable range to 2/λ_max",
          r"On convex quadratics SSAM converges for $\eta < 2/\lambda_{\max}$ and diverges above "
          r"(any $\rho$); on an eigenvector SSAM's step equals GD's.",
          "paper: Tan et al. 2024, concrete form",
          _Q + "; ρ ∈ {0.01, 0.1, 0.4}; η = (1∓δ)·2/λ_max", quadratic.check_c03),
    Claim("C04", "SAM's 2-cycle and loss floor",
          r"SAM with $0 < \eta\lambda_1 < 2$ settles into the 2-cycle $\pm c v_1$, "
          r"$c = \eta\rho\lambda_1/(2 - \eta\lambda_1)$, loss floor $\lambda_1 c^2/2$.",
          "peer: Bartlett, Long & Bousquet 2023; amplitude derived",
          "random spectra (κ ≤ 10, d = 4), ηλ₁ ∈ (0, 2), ρ ∈ {0.05, 0.5}; ηλ₁ = 2(1+δ) above",
          stability.check_c04),
    Claim("C05", "SAM's edge of stability",
          r"$\lambda_{\rm edge} = (\|g\|/2\rho)(\sqrt{1 + 8\rho/(\eta\|g\|)} - 1)$, root of "
          r"$\eta\lambda + \eta\rho\lambda^2/\|g\| = 2$; below $2/\eta$, $\to 2/\eta$ as "
          r"$\rho \to 0$; equals $\lambda_1$ at the C04 cycle.",
          "peer: Long & Bartlett 2024",
          "diagonal quadratics with a flat tilted direction holding ‖g‖ fixed; λ₁ = (1∓δ)λ_edge",
          stability.check_c05),
    Claim("C06", "NSSAM converges, no floor",
          r"NSSAM on convex quadratics converges to the minimizer for $\eta < 2/\lambda_{\max}$ "
          r"(no C04 floor) and diverges above.",
          "observed", _Q + "; ρ ∈ {0.01, 0.1, 0.4}", quadratic.check_c06),
    Claim("C07", "γ ≤ 1 on convex functions",
          r"Convex differentiable $f$, $e = c\nabla f(w)$, $c \ge 0$: "
          r"$\|\nabla f(w+e)\| \ge \|\nabla f(w)\|$, so $\gamma \le 1$ and truncation changes "
          r"nothing; near saddles $\gamma > 1$ occurs.",
          "derived",
          "random convex quadratics (one singular), least squares, logistic (full and "
          "minibatch); saddle ½(x²−y²)", renormalization.check_c07),
    Claim("C08", "One-step expansiveness",
          r"$\sup\|G(w)-G(v)\|/\|w-v\|$ on quadratics: GD $\max|1-\eta\lambda|$; USAM "
          r"$\max|1-\eta(\lambda+\rho\lambda^2)|$; SAM unbounded near the minimizer; SSAM's "
          r"and NSSAM's measured.",
          "derived", "random quadratics (κ ≤ 20), finite-difference Jacobians, pairs ±εu",
          renormalization.check_c08),
    Claim("C09", "USAM's saddle multiplier",
          r"On $f = \tfrac12(ax^2 - by^2)$ USAM's y-multiplier is $1 - \eta b(\rho b - 1)$: "
          r"the saddle attracts iff $\rho > 1/b$ and $\eta b(\rho b - 1) < 2$.",
          "peer: Kim et al. 2023, Thm 1; discrete form derived",
          "random (a, b); ρ = (1∓δ)/b and η = (1∓δ)·2/(b(ρb−1))", saddles.check_c09),
    Claim("C10", "SAM's trap at a strict saddle",
          r"SAM's step along a negative-curvature direction points back toward the saddle "
          r"whenever $\|\nabla f(w)\| < \rho|\lambda_{\rm neg}|$: deterministic SAM is trapped "
          r"in a neighbourhood of a strict saddle (size derived and traced).",
          "derived; cf. Compagnoni et al. 2023",
          "3-D rotated saddles (direction rule); ½(ax²−by²) (trap, both thresholds)",
          saddles.check_c10),
    Claim("C11a", "SSAM mitigates saddle trapping? (attraction)",
          r"“SSAM mitigates getting stuck at saddles”, as attraction: $\gamma > 0$ keeps USAM's "
          r"direction, so SSAM's attraction set is USAM's direction condition $\rho b > 1$ with "
          r"GD's step lengths ($\eta b < 2$, $\eta a < 2$); traced on the $(\eta, \rho)$ phase "
          r"diagrams of all five rules, escape and divergence told apart.",
          "paper: Tan et al. 2024, to be tested",
          "st.sweep on ½(x²−y²), ½(0.1x²−y²), Beale (saddle (0, 1)), quartic walls; ηb ∈ "
          "[0.05, 4], ρb ∈ [0.1, 10]; escaped = left the ball downhill, nothing blew up",
          escape.check_c11a),
    Claim("C11b", "SSAM mitigates saddle trapping? (escape speed)",
          r"Where the saddle does not attract ($\rho < 1/|\lambda_{\rm neg}|$), SSAM leaves it "
          r"sooner than USAM and NSSAM sooner than SAM, from the same starts; each also "
          r"against SGD; deterministic and with gradient noise.",
          "paper: Tan et al. 2024, to be tested",
          "½(x²−y²), Beale, quartic walls, noisy ½(x²−y²) and quartic walls (σ = 0.1, B = 4); "
          "ηb = 0.1, ρb ∈ {0.5, 0.05}; paired one-sided Wilcoxon, Holm",
          escape.check_c11b),
    Claim("C11c", "SSAM mitigates saddle trapping? (noise)",
          r"On $\tfrac12 x^2 - \tfrac12 b y^2 + \tfrac14 c y^4$ (escape = reaching the basin "
          r"$y^2 \approx b/c$), escape-time distributions of all five rules as $\rho$ crosses "
          r"$1/b$ and the noise grows: where renormalization helps, where nothing helps.",
          "paper: Tan et al. 2024, to be tested",
          "quartic walls b = c = 1, ηb = 0.1, ρb ∈ {0.5, 1.5, 3} (quick), σ ∈ {0, 0.1, 0.5}, "
          "B = 4; paired Wilcoxon, Holm", escape.check_c11c),
    Claim("C12", "Noise: SAM's saddle escape trails SGD's",
          r"With gradient noise, SAM's mean-square displacement along the negative-curvature "
          r"direction trails SGD's by $2\eta t^2|\lambda|^3\rho/B$ for small $t$.",
          "peer: Kim et al. 2023, Thm 2",
          "NoisyQuadratic diag(1, −1), per-example noise variance 2|λ|, B = 4, |λ|t = 0.002; "
          "Kim's setting (perturbation from the full gradient, SGD's noise in the "
          "descent gradient)",
          saddles.check_c12),
    Claim("C12b", "Noise, one minibatch per step: an O(t) gap",
          r"With one minibatch for both gradients of a step, the noise in SAM's step is scaled "
          r"by $(1 - \rho|\lambda|)$ too, and the MSD gap to SGD is "
          r"$\eta s\rho|\lambda|(2 - \rho|\lambda|)\,t + O(\eta t^2)$: O(t), not O(t²).",
          "derived",
          "as C12, with both gradients of USAM's step on the same minibatch (the rules as run)",
          saddles.check_c12b),
    Claim("C13", "Hardt et al.'s stability bound",
          r"Convex, $\beta$-smooth, $L$-Lipschitz per-example losses, $\eta \le 2/\beta$, "
          r"neighbouring data sets, shared indices: SGD keeps "
          r"$\|w_T - w'_T\| \le 2\eta L\cdot\#\{t : i_t = i^*\}$; $\delta_T$ of every rule.",
          "peer: Hardt, Recht & Singer 2016",
          "ssam_theory.linear: synthetic LS/logistic, diabetes, breast cancer", linear.check_c13),
    Claim("C14a", "SSAM extends SAM's stable learning rates",
          r"Below $2/(\beta(1+\rho\beta))$ ($\beta$ the largest minibatch smoothness) USAM's "
          r"minibatch step is non-expansive and $\delta_T \le 2\eta L(1+\rho\beta)\sum_t m_t/b$; "
          r"SSAM's departure from SGD's stability lies clearly above USAM's.",
          "paper: Tan et al. 2024, central claim",
          "ssam_theory.regime: coupled runs (b = 4; b = 1 on equal-norm least squares), ρβ = 2, "
          "16 seeds; synthetic LS/logistic, diabetes, breast cancer, equal-norm LS",
          regime.check_c14a),
    Claim("C14b", "SAM's test-risk window",
          r"SAM beats SGD in test risk only at small $\eta$; SSAM's winning range reaches higher.",
          "paper: Tan et al. 2024, central claim",
          "ssam_theory.regime: the C14a runs on the four data sets (full checks: those where "
          "USAM or SSAM wins again with 8× the steps); Wilcoxon per cell, Holm",
          regime.check_c14b),
    Claim("C15", "USAM's descent guarantee",
          r"$\beta$-smooth $f$, $\rho \le 1/(2\beta)$, $\eta \le 1/(4\beta)$: USAM decreases "
          r"$f$ by at least $0.218\,\eta\|\nabla f\|^2$ per step; "
          r"$\min_t\|\nabla f(w_t)\|^2 \le (f(w_0) - f^*)/(0.218\,\eta T)$.",
          "derived; cf. Andriushchenko & Flammarion 2022",
          "random quadratics, an indefinite quadratic, least squares, logistic; corner and "
          "random (η, ρ) in the region", descent.check_c15),
    Claim("C16", "The paper's quadratic experiment",
          r"Loss curves on a quadratic: SSAM converges where USAM diverges; SAM plateaus at "
          r"C04's floor.",
          "paper: Tan et al. 2024, experiment",
          "random spectra (λ_max = 10), η = √(2/(λ(1+ρλ))·2/λ), ρ ∈ {0.05, 0.1, 0.3}",
          quadratic.check_c16),
    Claim("C17", "NSSAM's contraction rate",
          r"Near the minimizer NSSAM contracts eigen-direction $i$ at about "
          r"$1 - 2(\lambda_i/\lambda_{\max})^2$ per step, independent of $\eta$ and $\rho$.",
          "observed",
          "diag(10, 0.1) with η ∈ [0.05, 0.19], ρ ∈ [0.01, 100]; random κ = 8; diag(10, 5); "
          "η below the regime", stability.check_c17),
    Claim("C18", "Batch size 1: SSAM is SGD",
          r"Linear model, one example per step: $\tilde g \parallel g$, so SSAM and NSSAM equal "
          r"SGD; USAM on least squares is SGD with step $\eta(1+\rho\|x_i\|^2)$.",
          "derived", "four data sets, b = 1, whole trajectories", regime.check_c18),
    Claim("C19", "Escape from a diagonal network's saddle",
          r"On the diagonal linear network $f(u, v) = \frac1{2n}\sum_i(\langle u\odot v, x_i"
          r"\rangle - y_i)^2$ the origin is a strict saddle, $\lambda_{\rm neg} = "
          r"-\|X^\top y\|_\infty/n$. Near it each rule grows along $v_{\rm neg}$ by its "
          r"linearised multiplier (SGD $1+\eta b$, USAM $1-\eta b(\rho b-1)$, SSAM "
          r"$1+\eta b\,\mathrm{sign}(1-\rho b)$, $b = |\lambda_{\rm neg}|$); from small "
          r"initialisation $\alpha$, SAM-type rules leave later than SGD, and renormalization "
          r"(SSAM, the paper's rule) closes USAM's gap. NSSAM against SAM is reported.",
          "paper: Tan et al. 2024, mechanism, to be tested; cf. Kim et al. 2023",
          "sparse regression (n = 100, d = 8) and diabetes; η = 0.2/b; ρb = 0.5 (escape), "
          "0.9 and 1.1 (rates); α = 1e-4…1e-1; full batch and b = 16; 12 paired seeds",
          _network.check_c19),
)

_BY_ID = {c.id: c for c in REGISTRY}


def by_id(claim_id: str) -> Claim:
    """The claim with this id (``ValueError`` naming the known ids otherwise)."""
    if claim_id not in _BY_ID:
        raise ValueError(f"unknown claim id {claim_id!r}; known: {', '.join(_BY_ID)}")
    return _BY_ID[claim_id]


def run_checks(ids=None, quick: bool = True, rules: Rules | None = None
               ) -> list[tuple[Claim, Result]]:
    """Run the checks of the given claim ids (all, in order, by default).

    Args:
        ids: iterable of ids such as ``["C04", "C05"]``, or ``None`` for all.
        quick: the quick settings (the whole registry in well under a minute).
        rules: optional ``{name: (lr, rho, **options) -> Optimizer}`` replacing rules.

    Returns:
        ``[(claim, result), ...]`` in registry order.
    """
    if ids is None:
        claims = list(REGISTRY)
    else:
        if isinstance(ids, str):
            raise TypeError(f"ids must be an iterable of claim ids, got the string {ids!r}")
        wanted = [by_id(i) for i in ids]
        claims = [c for c in REGISTRY if c in wanted]
    return [(c, c.run(quick=quick, rules=rules)) for c in claims]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(results: list[tuple[Claim, Result]]) -> str:
    """The claims table (id, title, source, predicted, measured, verdict) as Markdown."""
    lines = ["| id | claim | source | predicted | measured | verdict |",
             "|---|---|---|---|---|---|"]
    for c, r in results:
        lines.append("| " + " | ".join(_cell(x) for x in (
            c.id, c.title, c.source, r.predicted, r.measured, f"**{r.verdict}**")) + " |")
    return "\n".join(lines) + "\n"


def as_records(results: list[tuple[Claim, Result]], seconds=None) -> list[dict]:
    """JSON-ready records (``ssam-theory check --json``): id, title, source, tag, statement,
    setting, verdict, key, predicted, measured, rows (setting, predicted, measured, passes),
    evidence, check, formulas, seconds; see :mod:`ssam_theory.claims.report`."""
    from .report import records

    return records(results, seconds)


from .catalogue import catalogue_markdown  # noqa: E402  (needs REGISTRY above)

__all__ += ["catalogue_markdown"]
