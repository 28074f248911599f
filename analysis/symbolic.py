"""Exact (sympy) closed forms of the TD and Monte Carlo value flows (docs: theory/c1-C3, §3).

``V_t = exp(-tA)(V0 - V*) + V*`` with ``A = I - gamma P`` and ``V* = A^{-1} R``, derived
without ``Matrix.exp`` (which goes through the Jordan form and does not finish on a generic
4 x 4, see STYLE.md). Three exact routes, chosen by the structure of ``P``:

``two-state``
    ``P = [[1-p, p], [q, 1-q]]`` with any (symbolic) p, q: eigenvalues 1 and 1 - p - q,
    spectral projector ``Pi = 1 pi^T = [[q, p], [q, p]] / (p + q)``, so
    ``exp(-tA) = e^{-t(1-gamma)} Pi + e^{-t(1-gamma(1-p-q))} (I - Pi)``. Needs p + q != 0
    (p + q = 0 exactly is P = I, handled separately).
``circulant`` (rings)
    ``P[i, j] = c[(j - i) mod n]``: the DFT diagonalises P, eigenvalue
    ``lambda_k = sum_m c_m w^{km}`` (w = e^{2 pi i/n}) with real part a_k and imaginary part
    b_k, and ``exp(-tA)[i, j] = (1/n) sum_k e^{-t(1 - gamma a_k)} cos(t gamma b_k + 2 pi k(i-j)/n)``
    (real arithmetic; any entries, symbolic allowed).
``factored`` (any other P, Rational entries, n <= :data:`MAX_FACTORED_N`)
    The characteristic polynomial ``chi = prod_i f_i^{m_i}`` is factored over the field of the
    entries (``x - 1`` is always a factor). Chinese remaindering gives the exact spectral
    projectors ``Pi_i = e_i(P)`` (``e_i = 1 mod f_i^{m_i}``, ``0 mod chi / f_i^{m_i}``), rational
    in the entries of P. On block i, ``exp(-tA) Pi_i = r_i(P) Pi_i`` with ``r_i`` the Hermite
    interpolant of ``x -> e^{-t(1 - gamma x)}`` at the roots of ``f_i^{m_i}``: a linear factor of
    any multiplicity (``e^{-t mu} sum_k (t gamma)^k/k! (P - lambda)^k``, defective P included);
    an irreducible quadratic of multiplicity 1 in real form (cosh/sinh, or cos/sin for a
    complex pair); an irreducible cubic with three real roots through the trigonometric root
    formula (birth-death chains of 4 states). Any other factor ``f^m`` (a cubic with a complex
    pair, degree >= 4, a repeated nonlinear factor) goes through the residues of
    ``e^{-t(1 - gamma z)} (zI - P)^{-1}`` at the roots of f, summed exactly as a
    :class:`RealRootSum` (sympy ``RootSum``, no radicals): ``sum_j psi_j(t) P^j Pi_i``. Such
    results evaluate with ``evalf``, ``subs`` and ``sympy.lambdify`` (numpy / math / mpmath).
    Refused (:class:`SymbolicIntractableError`): n > :data:`MAX_FACTORED_N`, symbolic entries
    beyond two-state, circulant and n <= 3; a wall-clock guard bounds the rest.

Everything stays exact: ``P``, ``gamma`` and ``t`` must be Rational or symbolic, never Float
(``rationalize`` converts numpy input on purpose, with the rounding it made reported).
:func:`lambdify_trajectory` bridges every result to numpy.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
import signal
import threading

import numpy as np
import sympy as sp
from repdyn.analysis.errors import SymbolicIntractableError

__all__ = ["SymbolicIntractableError", "MAX_FACTORED_N", "DEFAULT_TIME_LIMIT", "X",
           "as_transition", "as_gamma", "as_time", "as_block", "is_circulant",
           "SpectralBlock", "spectral_blocks", "semigroup", "resolvent_solve", "true_values",
           "td_values", "mc_values", "two_state", "two_state_derivation", "birth_death",
           "circulant", "rationalize", "lambdify_trajectory", "time_limit"]

#: Largest concrete P sent through the factored characteristic polynomial by ``semigroup``.
MAX_FACTORED_N = 10
#: Seconds the exact derivations may take before :class:`SymbolicIntractableError`.
DEFAULT_TIME_LIMIT = 20.0
#: The polynomial variable of characteristic polynomials.
X = sp.Symbol("x")




# ----------------------------------------------------------------------------- time guard


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str = "symbolic derivation"):
    """Raise :class:`SymbolicIntractableError` if the block runs longer than ``seconds``.

    Uses ``SIGALRM`` (POSIX, main thread only); elsewhere, or when an outer guard is already
    armed, it is a no-op and the degree checks made before every expensive step are the guard.

    Examples
    --------
    >>> from repdyn.analysis.symbolic import time_limit
    >>> with time_limit(5.0, "a quick sum"):
    ...     total = sum(range(10))
    >>> total
    45
    """
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0.0)
    if not usable:
        yield
        return

    def _raise(signum, frame):
        raise SymbolicIntractableError(f"{what} exceeded the time limit of {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- validation


def _sympify(x, name):
    try:
        e = sp.sympify(x, strict=not isinstance(x, str))
    except (sp.SympifyError, TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sympy expression or number: {exc}") from None
    return e


def _no_float(e, name):
    if e.has(sp.Float):
        raise ValueError(f"{name} has floating-point entries; exact derivations need Rational or "
                         "symbolic entries (use analysis.symbolic.rationalize or sympy.Rational)")
    if e.has(sp.nan, sp.oo, -sp.oo, sp.zoo):
        raise ValueError(f"{name} contains nan or infinity")


def _as_matrix(M, name) -> sp.Matrix:
    if isinstance(M, np.ndarray) and M.dtype.kind == "f":
        raise ValueError(f"{name} is a float array; exact derivations need Rational or symbolic "
                         "entries (use analysis.symbolic.rationalize)")
    try:
        A = sp.Matrix(M)
    except Exception as exc:  # sympy raises assorted types on ragged input
        raise ValueError(f"{name} must be convertible to a sympy Matrix: {exc}") from None
    for e in A:
        _no_float(e, name)
    return A


def as_transition(P, name: str = "P") -> sp.Matrix:
    """Validate an exact row-stochastic matrix: square, entries >= 0 where numeric, rows sum
    to exactly 1 (identically, for symbolic entries).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import as_transition
    >>> p = sp.Symbol("p")
    >>> as_transition(sp.Matrix([[1 - p, p], [0, 1]]))
    Matrix([
    [1 - p, p],
    [    0, 1]])
    >>> as_transition(sp.Matrix([[sp.Rational(1, 2), sp.Rational(1, 3)], [0, 1]]))
    Traceback (most recent call last):
    ...
    ValueError: P ...
    """
    P = _as_matrix(P, name)
    n, m = P.shape
    if n != m or n == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {P.shape}")
    for (i, j), e in np.ndenumerate(np.array(P.tolist(), dtype=object)):
        if e.is_number:
            if not e.is_real:
                raise ValueError(f"{name}[{i},{j}] = {e} is not real")
            if e.is_negative:
                raise ValueError(f"{name} has a negative entry {name}[{i},{j}] = {e}")
    for i in range(n):
        s = sp.expand(sum(P.row(i)) - 1)
        if s != 0 and (s.is_number or sp.simplify(s) != 0):
            raise ValueError(f"{name} is not row-stochastic: row {i} sums to {sp.expand(s + 1)}, "
                             "not exactly 1")
    return P


def as_gamma(gamma, name: str = "gamma") -> sp.Expr:
    """Validate a discount: any symbolic expression, or a number in [0, 1).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import as_gamma
    >>> as_gamma(sp.Rational(9, 10)), as_gamma(sp.Symbol("gamma"))
    (9/10, gamma)
    >>> as_gamma(1)
    Traceback (most recent call last):
    ...
    ValueError: gamma ...
    """
    g = _sympify(gamma, name)
    _no_float(g, name)
    if g.is_number and not (g.is_real and g >= 0 and g < 1):
        raise ValueError(f"{name} must lie in [0, 1), got {g}")
    return g


def as_time(t, name: str = "t") -> sp.Expr:
    """Validate a time: a symbol/expression, or a number >= 0.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import as_time
    >>> as_time(sp.Symbol("t")), as_time(2)
    (t, 2)
    >>> as_time(-1)
    Traceback (most recent call last):
    ...
    ValueError: t ...
    """
    e = _sympify(t, name)
    _no_float(e, name)
    if e.is_number and not (e.is_real and e >= 0):
        raise ValueError(f"{name} must be >= 0, got {e}")
    return e


def as_block(V, n: int, name: str) -> sp.Matrix:
    """A vector (n,) or block (n, K) as an n x K sympy Matrix.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import as_block
    >>> as_block([1, 2], 2, "V0").shape
    (2, 1)
    """
    M = _as_matrix(V, name)
    if M.shape[0] != n and M.shape[1] == n and M.shape[0] == 1:
        M = M.T
    if M.shape[0] != n or M.shape[1] == 0:
        raise ValueError(f"{name} must have {n} rows (the number of states), got shape {M.shape}")
    return M


# ----------------------------------------------------------------------------- structure


def is_circulant(P: sp.Matrix) -> bool:
    """True if ``P[i, j] == P[0, (j - i) mod n]`` for all i, j (structurally).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import circulant, is_circulant, two_state
    >>> is_circulant(circulant([0, sp.Rational(2, 3), sp.Rational(1, 3)]))
    True
    >>> is_circulant(two_state(sp.Rational(1, 2), sp.Rational(1, 4)))
    False
    """
    n = P.shape[0]
    return n >= 3 and all(sp.expand(P[i, j] - P[0, (j - i) % n]) == 0
                          for i in range(n) for j in range(n))


def _polyval_matrix(poly: sp.Poly, M: sp.Matrix) -> sp.Matrix:
    """Horner evaluation of a univariate polynomial at a square matrix."""
    n = M.shape[0]
    out = sp.zeros(n, n)
    for c in poly.all_coeffs():
        out = out * M + c * sp.eye(n)
    return out.applyfunc(sp.expand) if M.free_symbols or poly.free_symbols - {poly.gen} else out


@dataclass(frozen=True)
class SpectralBlock:
    """One primary component of P: ``chi = prod f_i^{m_i}``; ``projector = e_i(P)``.

    ``factor`` is the irreducible factor f_i (a Poly in :data:`X`), ``multiplicity`` m_i,
    ``projector`` the exact spectral projector onto the generalized eigenspace of its roots.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import spectral_blocks, two_state
    >>> b = spectral_blocks(two_state(sp.Rational(1, 2), sp.Rational(1, 4)))[0]
    >>> b.factor.as_expr(), b.multiplicity                      # the block of x - 1 comes first
    (x - 1, 1)
    """

    factor: sp.Poly
    multiplicity: int
    projector: sp.Matrix

    @property
    def degree(self) -> int:
        return self.factor.degree()

    def roots(self):
        """Exact roots of the factor (``CRootOf`` for degree >= 3 rational factors)."""
        if self.degree == 1:
            return [sp.solve(self.factor.as_expr(), X)[0]]
        if self.factor.free_symbols - {X}:
            return list(sp.roots(self.factor, X).keys())
        return self.factor.all_roots()


def spectral_blocks(P, *, time_limit_s: float | None = DEFAULT_TIME_LIMIT,
                    max_n: int = 12) -> list[SpectralBlock]:
    """Factor ``chi_P`` and return the exact spectral projectors ``Pi_i = e_i(P)``.

    Parameters
    ----------
    P : exact row-stochastic matrix (validated)
    time_limit_s : wall-clock guard, seconds
    max_n : refuse larger P (``SymbolicIntractableError``) before any work

    Returns
    -------
    list of :class:`SpectralBlock`, the block of ``x - 1`` first.

    Notes
    -----
    ``sum_i Pi_i = I``, ``Pi_i Pi_j = delta_ij Pi_i``, ``f_i(P)^{m_i} Pi_i = 0``: exact rational
    identities (checked by ``proofs.exact``). Cost: Berkowitz charpoly O(n^4) plus one Horner
    evaluation of degree < n per block, in exact arithmetic; ~1 s for a dense 10 x 10 with
    denominators near 10^6.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import birth_death, spectral_blocks
    >>> P = birth_death([sp.Rational(1, 2)] * 2, [sp.Rational(1, 4)] * 2)
    >>> blocks = spectral_blocks(P)
    >>> sum((b.projector for b in blocks), sp.zeros(3, 3)) == sp.eye(3)   # projectors sum to I
    True
    """
    P = as_transition(P)
    n = P.shape[0]
    if n > max_n:
        raise SymbolicIntractableError(f"P is {n} x {n}; exact spectral blocks are limited to "
                                       f"n <= {max_n}")
    with time_limit(time_limit_s, "factoring the characteristic polynomial"):
        chi = P.charpoly(X)
        chi = sp.Poly(chi.as_expr(), X)
        _, facs = sp.factor_list(chi.as_expr(), X)
        facs = [(sp.Poly(f, X).monic(), m) for f, m in facs if sp.Poly(f, X).degree() > 0]
        facs.sort(key=lambda fm: (fm[0].as_expr() != X - 1, fm[0].degree()))
        if facs[0][0].as_expr() != X - 1:     # impossible for a stochastic P (P 1 = 1)
            raise ValueError("P: characteristic polynomial lacks the factor x - 1; not stochastic")
        blocks = []
        if len(facs) == 1:
            f, m = facs[0]
            return [SpectralBlock(f, m, sp.eye(n))]
        for f, m in facs:
            fm = f ** m
            g = sp.Poly(sp.quo(chi, fm), X)
            u = sp.invert(g, fm)                # u g = 1 mod f^m
            e = sp.rem(sp.Poly(u, X) * g, chi)
            blocks.append(SpectralBlock(f, m, _polyval_matrix(sp.Poly(e, X), P)))
    return blocks


# ----------------------------------------------------------------------------- semigroup


def two_state(p, q) -> sp.Matrix:
    """``[[1 - p, p], [q, 1 - q]]`` (symbols or Rationals).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> two_state(sp.Symbol("p"), sp.Rational(1, 4))
    Matrix([
    [1 - p,   p],
    [  1/4, 3/4]])
    """
    p, q = sp.sympify(p), sp.sympify(q)
    return sp.Matrix([[1 - p, p], [q, 1 - q]])


def birth_death(up, down) -> sp.Matrix:
    """Birth-death chain: ``P[i, i+1] = up[i]``, ``P[i+1, i] = down[i]``, rest on the diagonal.

    ``up`` and ``down`` have length n - 1. Reversible, so the spectrum is real.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import birth_death
    >>> birth_death([sp.Rational(1, 2)], [sp.Rational(1, 4)])
    Matrix([
    [1/2, 1/2],
    [1/4, 3/4]])
    """
    up, down = [sp.sympify(u) for u in up], [sp.sympify(d) for d in down]
    if len(up) != len(down) or not up:
        raise ValueError("up and down must have equal length n - 1 >= 1")
    n = len(up) + 1
    P = sp.zeros(n, n)
    for i in range(n - 1):
        P[i, i + 1] = up[i]
        P[i + 1, i] = down[i]
    for i in range(n):
        P[i, i] = 1 - sum(P.row(i))
    return as_transition(P)


def circulant(c) -> sp.Matrix:
    """Circulant ``P[i, j] = c[(j - i) mod n]`` (a walk on a ring).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import circulant
    >>> circulant([0, sp.Rational(2, 3), sp.Rational(1, 3)])
    Matrix([
    [  0, 2/3, 1/3],
    [1/3,   0, 2/3],
    [2/3, 1/3,   0]])
    """
    c = [sp.sympify(v) for v in c]
    n = len(c)
    return as_transition(sp.Matrix(n, n, lambda i, j: c[(j - i) % n]))


def _two_state_pi(P):
    p, q = P[0, 1], P[1, 0]
    s = p + q
    return s, sp.Matrix([[q, p], [q, p]]) / s


def _circulant_semigroup(P, gamma, t):
    n = P.shape[0]
    c = [P[0, m] for m in range(n)]
    a = [sum(c[m] * sp.cos(2 * sp.pi * k * m / n) for m in range(n)) for k in range(n)]
    b = [sum(c[m] * sp.sin(2 * sp.pi * k * m / n) for m in range(n)) for k in range(n)]
    def entry(d):
        return sum(sp.exp(-t * (1 - gamma * a[k])) * sp.cos(t * gamma * b[k] + 2 * sp.pi * k * d / n)
                   for k in range(n)) / n
    col = [entry(d) for d in range(n)]
    return sp.Matrix(n, n, lambda i, j: col[(i - j) % n])


def _exp_on_block(blk: SpectralBlock, P, gamma, t) -> sp.Matrix:
    """``exp(-tA) Pi_i`` on one primary component (see module docstring)."""
    n = P.shape[0]
    I = sp.eye(n)
    f, m, Pi = blk.factor, blk.multiplicity, blk.projector
    d = f.degree()
    if d == 1:
        lam = -f.all_coeffs()[1]
        N = P - lam * I
        acc, Nk = sp.zeros(n, n), Pi
        for k in range(m):
            acc += (t * gamma) ** k / sp.factorial(k) * Nk
            Nk = N * Nk
        return sp.exp(-t * (1 - gamma * lam)) * acc
    symbolic = bool(f.free_symbols - {X})
    if symbolic and (m > 1 or d > 2):
        raise SymbolicIntractableError(f"irreducible factor ({f.as_expr()})^{m} with symbolic "
                                       "coefficients: no closed form implemented")
    if m > 1:
        return _exp_on_block_rootsum(blk, P, gamma, t)
    if d == 2:
        _, b1, c0 = f.all_coeffs()             # x^2 + b1 x + c0, roots mid +- h
        mid = -b1 / 2
        disc = sp.expand(b1 ** 2 / 4 - c0)     # h^2
        E = sp.exp(-t * (1 - gamma * mid))
        if disc.is_number and disc < 0:
            k = sp.sqrt(-disc)
            even, odd = sp.cos(t * gamma * k), sp.sin(t * gamma * k) / k
        else:
            h = sp.sqrt(disc)
            even, odd = sp.cosh(t * gamma * h), sp.sinh(t * gamma * h) / h
        return E * (even * Pi + odd * (P - mid * I) * Pi)
    if d == 3 and sp.discriminant(f, X) > 0:
        rts = list(sp.roots(f, X, trig=True).keys())
        if len(rts) != 3:
            raise SymbolicIntractableError(f"could not solve the cubic factor {f.as_expr()}")
        acc = sp.zeros(n, n)
        for k, r in enumerate(rts):
            L = Pi
            for l, s in enumerate(rts):
                if l != k:
                    L = (P - s * I) * L / (r - s)
            acc += sp.exp(-t * (1 - gamma * r)) * L
        return acc
    return _exp_on_block_rootsum(blk, P, gamma, t)


#: Cache of :meth:`RealRootSum._real_form` (a trajectory repeats each root sum n^2 times).
_REAL_FORMS: dict = {}
_REAL_FORMS_MAX = 4096


class RealRootSum(sp.RootSum):
    """``sum over the roots r of f of fun(r)`` (sympy ``RootSum``) for a real polynomial f and a
    function with ``fun(conj r) = conj fun(r)`` at real arguments, so the sum is real.

    Exact like ``RootSum`` (``diff``, ``subs``, ``doit`` work; a rational ``fun``, e.g. at t = 0,
    evaluates to a rational number); in addition ``evalf`` returns the real part (no ``1e-40 I``
    round-off) and ``sympy.lambdify`` works with the numpy, math and mpmath printers, through
    the real form of the sum over the roots computed to 30 digits.
    """

    @classmethod
    def _rational_case(cls, poly, func):
        """``sum_r p(r)/q(r)`` over the roots of ``poly`` exactly, fast: reduce
        ``h = p q^{-1} mod poly`` (degree < d) and sum ``h`` with the Newton power sums of the
        roots. (sympy's generic symmetric-function route takes minutes at degree 5; this one
        milliseconds.) Falls back to it where the inverse does not exist."""
        try:
            var, expr = func.variables[0], func.expr
            x = poly.gen
            num, den = sp.fraction(sp.cancel(sp.together(expr.xreplace({var: x}))))
            f = sp.Poly(poly.monic().as_expr(), x)
            h = sp.rem(sp.Poly(num, x) * sp.Poly(sp.invert(sp.Poly(den, x), f), x), f)
            c = f.all_coeffs()[1:]                   # x^d + c[0] x^{d-1} + ... + c[d-1]
            d = f.degree()
            ps = [sp.Integer(d)]                     # Newton: power sums of the roots
            for k in range(1, d):
                ps.append(-(k * c[k - 1] + sum(c[i - 1] * ps[k - i] for i in range(1, k))))
            hc = sp.Poly(h, x).all_coeffs()[::-1]
            return sp.factor_terms(sp.cancel(sum(hk * ps[k] for k, hk in enumerate(hc))))
        except (sp.polys.polyerrors.PolynomialError, sp.polys.polyerrors.NotInvertible,
                ZeroDivisionError):
            return super()._rational_case(poly, func)

    def _eval_evalf(self, prec):
        v = super()._eval_evalf(prec)
        if v is self:
            return v
        v = v.evalf(prec)
        return sp.re(v) if v.is_number else v

    def _real_form(self):
        key = (self.poly, self.fun)
        if key not in _REAL_FORMS:
            if len(_REAL_FORMS) >= _REAL_FORMS_MAX:         # bounded: a long session keeps going
                _REAL_FORMS.clear()
            _REAL_FORMS[key] = self._real_form_uncached()
        return _REAL_FORMS[key]

    def _real_form_uncached(self):
        reals = {s: sp.Dummy(s.name, real=True) for s in self.free_symbols}
        var, expr = self.fun.variables[0], self.fun.expr.xreplace(reals)
        s = sp.Add(*[expr.xreplace({var: r}) for r in self.poly.nroots(n=30)])
        return sp.expand_complex(s).as_real_imag()[0].xreplace({v: k for k, v in reals.items()})

    def _numpycode(self, printer):
        return f"({printer._print(self._real_form())})"

    _pythoncode = _mpmathcode = _numpycode


def _exp_on_block_rootsum(blk: SpectralBlock, P, gamma, t) -> sp.Matrix:
    """``exp(-tA) Pi`` for any primary component, as ``sum_j psi_j(t) P^j Pi``.

    With ``F = f^m`` (degree D) and ``g(z) = e^{-t(1 - gamma z)}``, the Cauchy integral of
    ``g(z)(zI - P)^{-1} Pi`` and ``(zI - P)^{-1} Pi = sum_j h_j(z) P^j Pi / F(z)``, where
    ``(F(z) - F(x))/(z - x) = sum_j h_j(z) x^j``, give
    ``psi_j = sum_{f(r) = 0} Res_{z=r} g(z) h_j(z) / F(z)``. At a root r of the irreducible f
    (simple in f), ``F(z) = (z - r)^m q(z, r)^m`` with ``q = f(z)/(z - r)``, so the residue is
    ``d^{m-1}/dz^{m-1} [g h_j / q^m](r) / (m-1)!`` (``g(r) h_j(r) / f'(r)`` for m = 1), and
    ``psi_j`` is a :class:`RealRootSum` over the roots of f: exact for any degree, no radicals.
    """
    n = P.shape[0]
    f, m, Pi = blk.factor, blk.multiplicity, blk.projector
    z, r = sp.Dummy("z"), sp.Dummy("r")
    F = f ** m
    D = F.degree()
    a = F.all_coeffs()[::-1]                       # a[k]: coefficient of x^k
    b = f.all_coeffs()                             # f monic, highest first
    q, c = 0, 0                                    # synthetic division of f(z) by (z - r)
    for k, bk in enumerate(b[:-1]):
        c = bk + r * c
        q += c * z ** (len(b) - 2 - k)
    g = sp.exp(-t * (1 - gamma * z))
    fr = sp.Poly(f.as_expr().subs(X, r), r)
    out = sp.zeros(n, n)
    Pj = Pi
    for j in range(D):
        hj = sum(a[k] * z ** (k - 1 - j) for k in range(j + 1, D + 1))
        res = sp.diff(g * hj / q ** m, z, m - 1).subs(z, r) / sp.factorial(m - 1)
        res = sp.exp(-t * (1 - gamma * r)) * sp.factor_terms(sp.cancel(sp.expand(
            res / sp.exp(-t * (1 - gamma * r)))))
        out += RealRootSum(fr, sp.Lambda(r, res)) * Pj
        Pj = P * Pj
    return out


def _factor_degrees_ok(P) -> None:
    n = P.shape[0]
    if n > MAX_FACTORED_N:
        raise SymbolicIntractableError(f"P is {n} x {n} and not circulant: closed forms through the "
                                       f"factored characteristic polynomial stop at n = {MAX_FACTORED_N}")
    if P.free_symbols and n > 3:
        raise SymbolicIntractableError(f"P is {n} x {n} with symbolic entries and no recognised "
                                       "structure (two-state or circulant): refused, sympy would not finish")


def semigroup(P, gamma, t, *, time_limit_s: float | None = DEFAULT_TIME_LIMIT) -> sp.Matrix:
    """``exp(-t(I - gamma P))`` exactly, without the Jordan form (docs: theory/index, C1).

    Parameters
    ----------
    P : exact row-stochastic sympy Matrix (Rational or symbolic entries)
    gamma, t : sympy expressions (numbers: gamma in [0, 1), t >= 0)

    Returns
    -------
    n x n sympy Matrix.

    Raises
    ------
    SymbolicIntractableError
        For a P outside the routes of the module docstring, raised after a degree check
        (no work done) or by the wall-clock guard.

    Notes
    -----
    Exact. Cost: two-state and circulant routes are closed formulas (milliseconds); the factored
    route costs one charpoly, one factorisation and one Horner per block (~0.3 s for a generic
    rational 6 x 6, ~2.6 s for 10 x 10, denominators near 10^3).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import semigroup, two_state
    >>> p, q, g, t = sp.Rational(1, 2), sp.Rational(1, 4), sp.Rational(9, 10), sp.Symbol("t")
    >>> S = semigroup(two_state(p, q), g, t)
    >>> S.subs(t, 0) == sp.eye(2)
    True
    >>> A = sp.eye(2) - g * two_state(p, q)
    >>> sp.simplify(S.diff(t) + A * S) == sp.zeros(2, 2)          # d/dt exp(-tA) = -A exp(-tA)
    True
    """
    P = as_transition(P)
    gamma, t = as_gamma(gamma), as_time(t)
    n = P.shape[0]
    if n == 1:
        return sp.Matrix([[sp.exp(-t * (1 - gamma))]])
    if n == 2:
        s, Pi = _two_state_pi(P)
        if sp.expand(s) == 0:
            return sp.exp(-t * (1 - gamma)) * sp.eye(2)
        return (sp.exp(-t * (1 - gamma)) * Pi
                + sp.exp(-t * (1 - gamma * (1 - s))) * (sp.eye(2) - Pi))
    if is_circulant(P):
        return _circulant_semigroup(P, gamma, t)
    _factor_degrees_ok(P)
    with time_limit(time_limit_s, "exp(-tA) through the factored characteristic polynomial"):
        blocks = spectral_blocks(P, time_limit_s=None, max_n=MAX_FACTORED_N)
        out = sp.zeros(n, n)
        for b in blocks:
            out += _exp_on_block(b, P, gamma, t)
    return out


def resolvent_solve(P, gamma, B) -> sp.Matrix:
    """``(I - gamma P)^{-1} B`` exactly (LU over the field of the entries; cancelled).

    For two-state P the spectral form ``Pi B/(1-gamma) + (I-Pi) B/(1-gamma(1-p-q))`` is used.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import resolvent_solve, two_state
    >>> P, g = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> X = resolvent_solve(P, g, sp.Matrix([1, 0]))
    >>> (sp.eye(2) - g * P) * X == sp.Matrix([1, 0])
    True
    """
    P = as_transition(P)
    gamma = as_gamma(gamma)
    n = P.shape[0]
    B = as_block(B, n, "B")
    if n == 2:
        s, Pi = _two_state_pi(P)
        if sp.expand(s) != 0:
            return Pi * B / (1 - gamma) + (sp.eye(2) - Pi) * B / (1 - gamma * (1 - s))
    if is_circulant(P):
        return _circulant_resolvent(P, gamma) * B
    A = sp.eye(n) - gamma * P
    if not (A.free_symbols or B.free_symbols):
        return A.LUsolve(B)
    # symbolic: A^{-1} = h(P), h = (1 - gamma x)^{-1} mod chi_P (Cayley-Hamilton), by Horner
    chi = sp.Poly(P.charpoly(X).as_expr(), X)
    h = sp.Poly(sp.invert(sp.Poly(1 - gamma * X, X), chi), X)
    out = sp.zeros(n, B.shape[1])
    for c in h.all_coeffs():
        out = P * out + c * B
    return out.applyfunc(lambda e: sp.factor_terms(sp.together(e)))


def _circulant_resolvent(P, gamma):
    """``(I - gamma P)^{-1}`` of a circulant P through the DFT, in real arithmetic."""
    n = P.shape[0]
    c = [P[0, m] for m in range(n)]
    a = [sum(c[m] * sp.cos(2 * sp.pi * k * m / n) for m in range(n)) for k in range(n)]
    b = [sum(c[m] * sp.sin(2 * sp.pi * k * m / n) for m in range(n)) for k in range(n)]

    def entry(d):
        tot = 0
        for k in range(n):
            th = 2 * sp.pi * k * d / n
            tot += (((1 - gamma * a[k]) * sp.cos(th) - gamma * b[k] * sp.sin(th))
                    / ((1 - gamma * a[k]) ** 2 + (gamma * b[k]) ** 2))
        return tot / n
    col = [entry(d) for d in range(n)]
    return sp.Matrix(n, n, lambda i, j: col[(i - j) % n])


def true_values(P, R, gamma) -> sp.Matrix:
    """``V* = (I - gamma P)^{-1} R`` exactly (n x 1).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import true_values, two_state
    >>> true_values(two_state(sp.Rational(1, 2), sp.Rational(1, 2)), [1, 1], sp.Rational(1, 2)).T
    Matrix([[2, 2]])
    """
    P = as_transition(P)
    return resolvent_solve(P, gamma, as_block(R, P.shape[0], "R"))


def _value_inputs(P, R, gamma, V0, t):
    """Validate and coerce the inputs shared by :func:`td_values` and :func:`mc_values`."""
    P = as_transition(P)
    n = P.shape[0]
    gamma, t = as_gamma(gamma), as_time(t)
    R = as_block(R, n, "R")
    if R.shape[1] != 1:
        raise ValueError(f"R must be a vector of length {n}, got shape {R.shape}")
    return P, R, gamma, as_block(V0, n, "V0"), t


def td_values(P, R, gamma, V0, t) -> sp.Matrix:
    """Exact TD trajectory ``V_t = exp(-tA)(V0 - V*) + V*`` (docs: theory/c1, §3).

    Parameters
    ----------
    P : sympy Matrix (n, n), Rational or symbolic entries, rows summing to exactly 1
    R : (n,) or sympy Matrix (n, 1)
    gamma : sympy expression or Symbol (a number must lie in [0, 1))
    V0 : (n,) or (n, K)
    t : sympy expression or Symbol (a number must be >= 0)

    Returns
    -------
    sympy Matrix (n, 1) or (n, K).

    Raises
    ------
    ValueError
        Invalid input (argument named).
    SymbolicIntractableError
        No exact closed form reachable (see :func:`semigroup`).

    Notes
    -----
    Exact; no blanket ``simplify``. The fully symbolic two-state derivation takes ~0.1 s.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import td_values, true_values, two_state
    >>> P, g, t = two_state(sp.Rational(3, 10), sp.Rational(1, 5)), sp.Rational(9, 10), sp.Symbol("t")
    >>> V = td_values(P, [1, 0], g, [0, 0], t)
    >>> V.subs(t, 0).T
    Matrix([[0, 0]])
    >>> A = sp.eye(2) - g * P                                    # solves dV/dt = R - A V exactly
    >>> sp.simplify(V.diff(t) - (sp.Matrix([1, 0]) - A * V)) == sp.zeros(2, 1)
    True
    >>> [sp.limit(v, t, sp.oo) for v in V] == list(true_values(P, [1, 0], g))
    True
    """
    P, R, gamma, V0, t = _value_inputs(P, R, gamma, V0, t)
    E = semigroup(P, gamma, t)
    Vs = resolvent_solve(P, gamma, R)
    Vs_b = Vs * sp.ones(1, V0.shape[1])
    return E * (V0 - Vs_b) + Vs_b


def mc_values(P, R, gamma, V0, t) -> sp.Matrix:
    """Exact Monte Carlo trajectory ``V_t = e^{-t}(V0 - V*) + V*`` (docs: theory/c1); as td_values.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import mc_values, true_values, two_state
    >>> P, g, t = two_state(sp.Rational(3, 10), sp.Rational(1, 5)), sp.Rational(9, 10), sp.Symbol("t")
    >>> V = mc_values(P, [1, 0], g, [0, 0], t)
    >>> sp.simplify(V.diff(t) - (true_values(P, [1, 0], g) - V)) == sp.zeros(2, 1)
    True
    """
    P, R, gamma, V0, t = _value_inputs(P, R, gamma, V0, t)
    Vs_b = resolvent_solve(P, gamma, R) * sp.ones(1, V0.shape[1])
    return sp.exp(-t) * (V0 - Vs_b) + Vs_b


def two_state_derivation() -> dict:
    """The fully symbolic two-state derivation (docs: theory/c1, Figure 1 of the talk).

    Symbols p, q, gamma, R1, R2, V01, V02, t (p, q, t nonnegative; gamma real). Returns a dict
    with the symbols, ``P``, ``eigenvalues`` (1, 1 - p - q), ``eigenvectors`` (1, (p, -q)),
    ``projector`` Pi = 1 pi^T, ``V_star``, ``td`` and ``mc`` (2 x 1 Matrices) and ``rates``
    (1 - gamma, 1 - gamma(1 - p - q)).

    Notes
    -----
    Derived through the eigen-decomposition; p + q != 0 is assumed (division by p + q). Near
    p + q = 0 the expressions cancel catastrophically in floating point; evaluate them with
    p + q >= 1e-3 or in exact arithmetic.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state_derivation
    >>> d = two_state_derivation()
    >>> d["eigenvalues"]
    (1, -p - q + 1)
    >>> d["rates"]
    (1 - gamma, -gamma*(-p - q + 1) + 1)
    """
    p, q, t = sp.symbols("p q t", nonnegative=True)
    gamma = sp.Symbol("gamma", real=True)
    R1, R2, V01, V02 = sp.symbols("R1 R2 V01 V02", real=True)
    P = two_state(p, q)
    R = sp.Matrix([R1, R2])
    V0 = sp.Matrix([V01, V02])
    _, Pi = _two_state_pi(P)
    return dict(p=p, q=q, gamma=gamma, t=t, R1=R1, R2=R2, V01=V01, V02=V02, P=P, R=R, V0=V0,
                eigenvalues=(sp.Integer(1), 1 - p - q),
                eigenvectors=(sp.Matrix([1, 1]), sp.Matrix([p, -q])),
                projector=Pi, V_star=true_values(P, R, gamma),
                rates=(1 - gamma, 1 - gamma * (1 - p - q)),
                td=td_values(P, R, gamma, V0, t), mc=mc_values(P, R, gamma, V0, t))


# ----------------------------------------------------------------------------- bridges


def rationalize(x, max_denominator: int = 10**6, *, stochastic: bool = False):
    """Convert a float array (or scalar) to exact Rationals, reporting the rounding.

    Each entry becomes the closest fraction with denominator <= ``max_denominator``. With
    ``stochastic=True`` (a transition matrix) every row is then divided by its exact sum, so the
    result is exactly row-stochastic. Returns ``(value, max_abs_change)`` where value is a sympy
    Matrix (2-d/1-d input) or Rational (scalar).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.symbolic import rationalize
    >>> P, change = rationalize(np.array([[0.3, 0.7], [0.1, 0.9]]), stochastic=True)
    >>> P, change < 1e-15
    (Matrix([
    [3/10, 7/10],
    [1/10, 9/10]]), True)
    """
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("x contains NaN or inf")
    def q(v):
        return Fraction(float(v)).limit_denominator(max_denominator)
    if a.ndim == 0:
        r = sp.Rational(q(a).numerator, q(a).denominator)
        return r, abs(float(r) - float(a))
    F = [[q(v) for v in row] for row in np.atleast_2d(a)]
    if stochastic:
        if a.ndim != 2:
            raise ValueError("a transition matrix must be 2-d")
        if np.any(a < 0):
            raise ValueError("P has negative entries")
        F = [[v / sum(row) for v in row] for row in F]
    M = sp.Matrix([[sp.Rational(v.numerator, v.denominator) for v in row] for row in F])
    if a.ndim == 1:
        M = M.T
    dev = float(np.max(np.abs(np.array(M.tolist(), dtype=float).reshape(a.shape) - a)))
    return M, dev


def lambdify_trajectory(expr: sp.Matrix, t: sp.Symbol, params=(), *, squeeze_vector=True):
    """A numpy function ``f(times, *param_values) -> (len(times), n[, K])`` for a trajectory.

    ``expr`` is an (n, K) sympy Matrix depending on the time symbol ``t`` and ``params``.
    With ``squeeze_vector`` an (n, 1) result is returned as (T, n), matching
    ``analysis.closed_form``.

    Examples
    --------
    >>> import sympy as sp
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import td_values as td_float
    >>> from repdyn.analysis.symbolic import lambdify_trajectory, td_values, two_state
    >>> P, t = two_state(sp.Rational(3, 10), sp.Rational(1, 5)), sp.Symbol("t")
    >>> f = lambdify_trajectory(td_values(P, [1, 0], sp.Rational(9, 10), [0, 0], t), t)
    >>> times = np.array([0.0, 1.0, 10.0])
    >>> Pf = np.array([[0.7, 0.3], [0.2, 0.8]])
    >>> bool(np.allclose(f(times), td_float(Pf, [1.0, 0.0], 0.9, np.zeros(2), times)))
    True
    """
    # numeric subexpressions (sqrt of big rationals, cos(2 pi/9), ...) to 30 digits first:
    # numpy cannot take sqrt of a Python int beyond int64
    def _num(e):
        reps = {a: sp.Float(a.evalf(30), 30) for a in e.atoms(sp.Pow, sp.cos, sp.sin)
                if a.is_number}
        return e.xreplace(reps) if reps else e
    expr = expr.applyfunc(_num)
    fn = sp.lambdify([t, *params], expr, modules=[{"sqrt": np.emath.sqrt}, "numpy"])
    shape = expr.shape

    def f(times, *vals):
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        out = np.empty((len(times),) + shape)
        for i, ti in enumerate(times):
            out[i] = np.real_if_close(np.asarray(fn(ti, *vals), dtype=complex), tol=1e6).real
        return out[:, :, 0] if (squeeze_vector and shape[1] == 1) else out
    return f
