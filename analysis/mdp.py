"""MDP validation and builders for the default MDP families.

Every public function of ``repdyn`` validates its inputs with the helpers here, so that bad
input (docs: contract) raises a ``ValueError`` naming the argument instead of producing a silently
wrong answer.

Builders return dense ``numpy`` arrays except :func:`four_rooms`, which returns a
``scipy.sparse.csr_matrix`` (its size grows quadratically with the room size).
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = [
    "STOCHASTIC_TOL",
    "EIG_TIE_TOL",
    "MDP",
    "as_mdp",
    "check_transition",
    "check_policies",
    "check_gamma",
    "check_gammas",
    "check_times",
    "check_vector",
    "check_matrix",
    "check_k",
    "check_heads",
    "check_nonnegative",
    "check_basis",
    "check_rng",
    "two_state",
    "random_walk_chain",
    "two_action_chain",
    "random_reversible",
    "random_dirichlet",
    "ring",
    "gridworld",
    "four_rooms",
    "random_sparse_chain",
    "default_mdps",
]

#: Rows of a transition matrix must sum to one within this absolute tolerance (docs: contract).
STOCHASTIC_TOL = 1e-10

#: Two eigenvalues whose real parts differ by at most this are tied: the invariant subspace
#: that would separate them is not defined (docs: theory/index, EBFs). Eigenvalues of a stochastic matrix
#: lie in the unit disc, so an absolute tolerance is meaningful. 1e-8 sits just above the
#: ~sqrt(machine eps) splitting that LAPACK produces for a defective double eigenvalue.
EIG_TIE_TOL = 1e-8


# ----------------------------------------------------------------------------- validation


def _not_complex(x, name: str) -> None:
    """Refuse complex input: casting it to float64 would drop the imaginary part silently."""
    try:
        cplx = (np.issubdtype(x.dtype, np.complexfloating) if sp.issparse(x)
                else np.iscomplexobj(x))
    except (TypeError, ValueError):
        return
    if cplx:
        raise ValueError(f"{name} must be real, got complex values")


def _finite_array(x, name: str, ndim=None) -> np.ndarray:
    if sp.issparse(x):
        raise ValueError(f"{name} must be a dense array here, got a scipy sparse matrix")
    _not_complex(x, name)
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real numeric array: {exc}") from None
    if ndim is not None and a.ndim not in np.atleast_1d(ndim):
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return np.ascontiguousarray(a)


def check_transition(P, name: str = "P", *, sparse_ok: bool = False):
    """Validate a row-stochastic matrix and return it as float64.

    Checks: square, 2-d, non-empty, finite, entries >= 0, rows sum to 1 within
    :data:`STOCHASTIC_TOL`. With ``sparse_ok`` a scipy sparse matrix is accepted and
    returned as CSR; otherwise a dense C-contiguous array is returned.

    An :class:`MDP` passes without re-validation (it was validated once, when built): its
    stored ``P`` is returned (read-only).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from repdyn.analysis.mdp import check_transition
    >>> check_transition([[0.5, 0.5], [0, 1]]).dtype
    dtype('float64')
    >>> check_transition([[0.5, 0.4], [0, 1]])
    Traceback (most recent call last):
        ...
    ValueError: P is not row-stochastic: row 0 sums to 0.9 (tolerance 1e-10)
    >>> check_transition(sp.identity(3, format="csr"), sparse_ok=True).format
    'csr'
    >>> check_transition(sp.identity(3, format="csr"))
    Traceback (most recent call last):
        ...
    ValueError: P must be a dense array for this function (spectral functions need ...); convert with P.toarray()
    """
    if isinstance(P, MDP):
        if P.sparse and not sparse_ok:
            raise ValueError(f"{name} must be a dense array for this function; this MDP holds a "
                             f"sparse P (n = {P.n}): use MDP.dense_P() if it fits in memory")
        return P.P
    if sp.issparse(P):
        if not sparse_ok:
            raise ValueError(f"{name} must be a dense array for this function (spectral "
                             "functions need the full matrix); convert with P.toarray()")
        _not_complex(P, name)
        M = sp.csr_matrix(P, dtype=np.float64)
        if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty square matrix, got shape {M.shape}")
        data = M.data
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{name} contains NaN or inf")
        if np.any(data < 0):
            raise ValueError(f"{name} has negative entries (min {data.min():.3g})")
        rows = np.asarray(M.sum(axis=1)).ravel()
    else:
        M = _finite_array(P, name, ndim=2)
        if M.shape[0] != M.shape[1] or M.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty square matrix, got shape {M.shape}")
        if np.any(M < 0):
            raise ValueError(f"{name} has negative entries (min {M.min():.3g})")
        rows = M.sum(axis=1)
    bad = np.abs(rows - 1.0)
    if np.any(bad > STOCHASTIC_TOL):
        i = int(np.argmax(bad))
        raise ValueError(f"{name} is not row-stochastic: row {i} sums to {float(rows[i])!r} "
                         f"(tolerance {STOCHASTIC_TOL:g})")
    return M


def check_policies(Ps, name: str = "Ps") -> list:
    """Validate J >= 1 transition matrices of one shape ((J, n, n) array or a list, dense or
    scipy sparse); returns the list of validated matrices.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import check_policies, two_action_chain
    >>> P, R = two_action_chain(5)
    >>> Ps = check_policies(P)           # a (J, n, n) array becomes a list of J matrices
    >>> len(Ps), Ps[0].shape
    (2, (5, 5))
    >>> check_policies([np.eye(2), np.eye(3)])
    Traceback (most recent call last):
        ...
    ValueError: Ps: every policy's matrix must have the same shape
    """
    if isinstance(Ps, np.ndarray) and Ps.ndim == 3:
        Ps = list(Ps)
    if not isinstance(Ps, (list, tuple)) or len(Ps) == 0:
        raise ValueError(f"{name} must be a non-empty list (or (J, n, n) array) of transition matrices")
    Ps = [check_transition(Pj, f"{name}[{j}]", sparse_ok=True) for j, Pj in enumerate(Ps)]
    n = Ps[0].shape[0]
    if any(Pj.shape != (n, n) for Pj in Ps):
        raise ValueError(f"{name}: every policy's matrix must have the same shape")
    return Ps


def check_gamma(gamma, name: str = "gamma") -> float:
    """Validate a discount factor in [0, 1) and return it as float.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import check_gamma
    >>> check_gamma(np.float32(0.5)), check_gamma(0)
    (0.5, 0.0)
    >>> check_gamma(1.0)
    Traceback (most recent call last):
        ...
    ValueError: gamma must lie in [0, 1), got 1.0
    >>> check_gamma(True)
    Traceback (most recent call last):
        ...
    ValueError: gamma must be a real number in [0, 1), got True
    """
    if isinstance(gamma, (bool, np.bool_)) or not isinstance(gamma, (numbers.Real, np.floating, np.integer)):
        if isinstance(gamma, np.ndarray) and gamma.ndim == 0:
            gamma = gamma.item()
        else:
            raise ValueError(f"{name} must be a real number in [0, 1), got {gamma!r}")
    g = float(gamma)
    if not np.isfinite(g) or not (0.0 <= g < 1.0):
        raise ValueError(f"{name} must lie in [0, 1), got {g!r}")
    return g


def check_gammas(gammas, name: str = "gammas") -> np.ndarray:
    """Validate a non-empty 1-d array of discounts, each in [0, 1) (C8: several discounts).

    Examples
    --------
    >>> from repdyn.analysis.mdp import check_gammas
    >>> check_gammas([0.5, 0.9])
    array([0.5, 0.9])
    >>> check_gammas([0.5, 1.5])
    Traceback (most recent call last):
        ...
    ValueError: gammas[1] must lie in [0, 1), got 1.5
    """
    g = _finite_array(gammas, name, ndim=1)
    if g.size == 0:
        raise ValueError(f"{name} must hold at least one discount")
    for j, gj in enumerate(g):
        check_gamma(float(gj), f"{name}[{j}]")
    return g


def check_times(t, name: str = "t") -> np.ndarray:
    """Validate a 1-d array of finite times >= 0 (a scalar is promoted to one time).

    Examples
    --------
    >>> from repdyn.analysis.mdp import check_times
    >>> check_times(2.0)                 # a scalar becomes one time
    array([2.])
    >>> check_times([1, -1])
    Traceback (most recent call last):
        ...
    ValueError: t must be >= 0, got min -1.0
    """
    a = _finite_array(t, name)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of times, got shape {a.shape}")
    if np.any(a < 0):
        raise ValueError(f"{name} must be >= 0, got min {float(a.min())!r}")
    return a


def check_vector(x, n: int, name: str, of: str = "the number of states") -> np.ndarray:
    """Validate a finite vector of length ``n`` (``of`` says what n counts, for the message).

    Examples
    --------
    >>> from repdyn.analysis.mdp import check_vector
    >>> check_vector([1, 0, 0], 3, "R")
    array([1., 0., 0.])
    >>> check_vector([1, 0], 3, "R")
    Traceback (most recent call last):
        ...
    ValueError: R must have length 3 (the number of states), got 2
    """
    a = _finite_array(x, name, ndim=1)
    if a.shape[0] != n:
        raise ValueError(f"{name} must have length {n} ({of}), got {a.shape[0]}")
    return a


def check_matrix(X, name: str, rows=None, cols=None, rows_of: str = "", cols_of: str = "") -> np.ndarray:
    """Validate a finite 2-d array, optionally with a given number of rows and columns.

    ``rows_of``/``cols_of`` name what the count must match, for the error message.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import check_matrix
    >>> check_matrix(np.ones((4, 2)), "Phi0", rows=4).shape
    (4, 2)
    >>> check_matrix(np.ones((2, 3)), "Phi0", rows=4, rows_of="the number of states")
    Traceback (most recent call last):
        ...
    ValueError: Phi0 must have 4 rows (to match the number of states), got shape (2, 3)
    """
    a = _finite_array(X, name, ndim=2)
    if rows is not None and a.shape[0] != rows:
        why = f" (to match {rows_of})" if rows_of else ""
        raise ValueError(f"{name} must have {rows} rows{why}, got shape {a.shape}")
    if cols is not None and a.shape[1] != cols:
        why = f" (to match {cols_of})" if cols_of else ""
        raise ValueError(f"{name} must have {cols} columns{why}, got shape {a.shape}")
    return a


def is_int(v) -> bool:
    """A real integer: ``int`` or numpy integer, not ``bool`` (no floats, strings, None)."""
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_int(v, name: str, minimum: int = 1) -> int:
    """Validate an integer ``v >= minimum`` (bools and non-integral floats are refused)."""
    if not is_int(v) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def check_nonnegative(x, name: str, allow_zero: bool = True) -> float:
    """Validate a finite real scalar >= 0 (> 0 with ``allow_zero=False``): rates, steps.

    Examples
    --------
    >>> from repdyn.analysis.mdp import check_nonnegative
    >>> check_nonnegative(0, "beta")
    0.0
    >>> check_nonnegative(0, "alpha", allow_zero=False)
    Traceback (most recent call last):
        ...
    ValueError: alpha must be finite and > 0, got 0.0
    """
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a real number, got {x!r}")
    x = float(x)
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0, got {x!r}")
    return x


def check_heads(W, K: int, name: str = "W") -> np.ndarray:
    """Validate fixed heads ``W`` (K, M): one head per column, K matching Phi0's columns.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import check_heads
    >>> check_heads(np.ones((2, 3)), 2).shape        # K = 2 features, M = 3 heads
    (2, 3)
    >>> check_heads(np.ones((3, 1)), 2)
    Traceback (most recent call last):
        ...
    ValueError: W must have 2 rows (to match the K columns of Phi0), got shape (3, 1)
    """
    W = check_matrix(W, name, rows=K, rows_of="the K columns of Phi0")
    if W.shape[1] == 0:
        raise ValueError(f"{name} must have at least one head (column), got shape {W.shape}")
    return W


def check_k(k, n: int, name: str = "k") -> int:
    """Validate an integer order 1 <= k <= n.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import check_k
    >>> check_k(np.int64(3), 5)
    3
    >>> check_k(6, 5)
    Traceback (most recent call last):
        ...
    ValueError: k must satisfy 1 <= k <= n = 5, got 6
    >>> check_k(2.0, 5)
    Traceback (most recent call last):
        ...
    ValueError: k must be an integer, got 2.0
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer, got {k!r}")
    k = int(k)
    if not (1 <= k <= n):
        raise ValueError(f"{name} must satisfy 1 <= {name} <= n = {n}, got {k}")
    return k


def check_basis(B, name: str, n=None) -> np.ndarray:
    """Validate an n x k basis (1-d input is one column) of full column rank.

    Examples
    --------
    >>> from repdyn.analysis.mdp import check_basis
    >>> check_basis([1.0, 1.0, 1.0], "b").shape      # 1-d input: one column
    (3, 1)
    >>> check_basis([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]], "B")
    Traceback (most recent call last):
        ...
    ValueError: B is rank-deficient (singular values 2 ...): its columns do not span a subspace ...
    """
    a = _finite_array(B, name, ndim=(1, 2))
    if a.ndim == 1:
        a = a[:, None]
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows, got shape {a.shape}")
    if a.shape[1] == 0 or a.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {a.shape}")
    if a.shape[1] > a.shape[0]:
        raise ValueError(f"{name} has more columns than rows ({a.shape}): not a basis")
    s = np.linalg.svd(a, compute_uv=False)
    if s[-1] <= s[0] * a.shape[0] * np.finfo(float).eps or s[0] == 0.0:
        raise ValueError(f"{name} is rank-deficient (singular values {s[0]:.3g} ... {s[-1]:.3g}): "
                         "its columns do not span a subspace of full dimension")
    return a


def check_rng(rng=None, seed=None) -> np.random.Generator:
    """Return a Generator from ``rng`` (a Generator) or ``seed`` (an int); one must be given.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import check_rng
    >>> int(check_rng(seed=0).integers(10**6)) == int(check_rng(seed=0).integers(10**6))
    True
    >>> g = np.random.default_rng(1)
    >>> check_rng(g) is g                # a Generator is used as it is
    True
    >>> check_rng()
    Traceback (most recent call last):
        ...
    ValueError: a random function needs rng (numpy Generator) or seed (int)
    """
    if rng is not None and seed is not None:
        raise ValueError("give rng or seed, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is None:
        raise ValueError("a random function needs rng (numpy Generator) or seed (int)")
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------- builders


class MDP:
    """A validated finite MDP under a fixed policy: ``P``, and optionally ``R`` and ``gamma``.

    On the model of QuantEcon's ``MarkovChain``: the input is validated once, here; the
    matrices are stored read-only; everything expensive is computed on first use and cached on
    the object. Every public function of the contract (docs: contract) accepts an ``MDP`` in
    place of ``P`` (same argument order) and then neither re-validates ``P`` nor repeats a
    factorisation: the eigenvalues, the EBF basis per order k, the RSBF basis per
    (gamma, k), the LU of ``I - gamma P`` and the propagator are cached here.

    Parameters
    ----------
    P : array_like or scipy.sparse matrix (n, n)
        Row-stochastic transition matrix. Sparse input is stored as canonical CSR, dense input
        as a C-contiguous float64 array (copied if it shares memory with the caller's array).
    R : array_like (n,), optional
        Reward vector.
    gamma : float, optional
        Discount in [0, 1).
    notes : str
        What is known about the MDP (shown in reports).
    extra : dict, optional
        Side data (e.g. per-action arrays for C9).
    name : str, optional
        A label for reports (default ``"mdp(n=...)"``).

    The older positional form ``MDP(name, P, R, gamma, notes, extra)`` is also accepted.

    Raises
    ------
    ValueError
        ``P`` not square, not row-stochastic, negative or non-finite entries; ``R`` of the wrong
        length or non-finite; ``gamma`` outside [0, 1).

    Notes
    -----
    Validation costs O(nnz(P)). Attributes ``P``, ``R``, ``gamma``, ``name``, ``notes``,
    ``extra``, ``n``, ``sparse`` are read-only. Cached results are returned as copies.

    Examples
    --------
    >>> from repdyn.analysis.mdp import MDP, four_rooms
    >>> m = MDP(four_rooms(5), gamma=0.9)
    >>> m.n, m.sparse
    (104, True)
    >>> from repdyn.analysis.spectral import ebfs
    >>> ebfs(m, 1).shape                      # the object goes wherever P goes
    (104, 1)
    >>> m.P.data.flags.writeable
    False
    """

    def __init__(self, P, R=None, gamma=None, notes="", extra=None, *rest, name=None):
        if isinstance(P, str):                   # legacy form MDP(name, P, R, gamma, notes, extra)
            if name is not None:
                raise ValueError("name given twice (positionally and as name=)")
            name, P, R, gamma, notes, extra = (P, R, gamma, notes, extra if extra is not None else "",
                                               rest[0] if rest else None)
        elif rest:
            raise ValueError(f"MDP takes at most 5 positional arguments, got {5 + len(rest)}")
        if isinstance(P, MDP):
            M = P.P
        else:
            M = check_transition(P, "P", sparse_ok=True)
            if sp.issparse(M):
                if M is P or (sp.issparse(P) and np.may_share_memory(M.data, P.data)):
                    M = M.copy()
                M.sum_duplicates()
                M.sort_indices()
                for a in (M.data, M.indices, M.indptr):
                    a.flags.writeable = False
            else:
                if isinstance(P, np.ndarray) and np.may_share_memory(M, P):
                    M = M.copy()
                M.flags.writeable = False
        n = M.shape[0]
        if R is not None:
            R = check_vector(R, n, "R").copy()
            R.flags.writeable = False
        if gamma is not None:
            gamma = check_gamma(gamma)
        self._P, self._R, self._gamma = M, R, gamma
        self._name = name if name is not None else f"mdp(n={n})"
        self._notes = notes
        self._extra = {} if extra is None else extra
        self._cache = {}

    # ------------------------------------------------------------------ read-only data
    P = property(lambda self: self._P, doc="the transition matrix (read-only ndarray or CSR)")
    R = property(lambda self: self._R, doc="the reward vector (read-only) or None")
    gamma = property(lambda self: self._gamma, doc="the discount or None")
    name = property(lambda self: self._name, doc="label for reports")
    notes = property(lambda self: self._notes, doc="what is known about the MDP")
    extra = property(lambda self: self._extra, doc="side data (per-action arrays for C9)")

    @property
    def n(self) -> int:
        """Number of states."""
        return self._P.shape[0]

    @property
    def sparse(self) -> bool:
        """Whether ``P`` is stored as scipy CSR."""
        return sp.issparse(self._P)

    def __repr__(self) -> str:
        kind = f"CSR, nnz={self._P.nnz}" if self.sparse else "dense"
        return f"MDP({self._name!r}, n={self.n}, {kind}, gamma={self._gamma!r})"

    def dense_P(self) -> np.ndarray:
        """``P`` as a dense float64 array (a new array for sparse ``P``, cached)."""
        if not self.sparse:
            return self._P
        if "dense" not in self._cache:
            D = self._P.toarray()
            D.flags.writeable = False
            self._cache["dense"] = D
        return self._cache["dense"]

    def dense_bytes(self) -> int:
        """Bytes one dense n x n float64 copy of ``P`` takes (for memory estimates)."""
        return 8 * self.n * self.n

    def _need(self, what: str, value):
        if value is None:
            raise ValueError(f"{what} is needed but the MDP {self._name!r} has none; pass it explicitly")
        return value

    # ------------------------------------------------------------------ cached analyses
    def eigenvalues(self, k=None) -> np.ndarray:
        """Eigenvalues by real part, descending: all (dense route), or the top ``k`` (see
        :func:`analysis.spectral.eigenvalues`). Cached."""
        from repdyn.analysis.spectral import eigenvalues
        return eigenvalues(self, k)

    def ebfs(self, k: int, **kw) -> np.ndarray:
        """Order-k EBFs (:func:`analysis.spectral.ebfs`), cached per k."""
        from repdyn.analysis.spectral import ebfs
        return ebfs(self, k, **kw)

    def rsbfs(self, k: int, gamma=None, Sigma=None, **kw) -> np.ndarray:
        """Order-k RSBFs (:func:`analysis.spectral.rsbfs`) at ``gamma`` (default: the MDP's)."""
        from repdyn.analysis.spectral import rsbfs
        g = self._gamma if gamma is None else gamma
        return rsbfs(self, self._need("gamma", g), k, Sigma, **kw)

    def certificate(self, k: int):
        """The Krylov certificate of the order-k EBFs (:class:`analysis.krylov.SpectrumCertificate`),
        or None when they came from the dense Schur route."""
        from repdyn.analysis.spectral import ebf_certificate
        return ebf_certificate(self, k)

    def propagator(self, gamma=None):
        """The cached :class:`analysis.propagator.Propagator` of ``(P, gamma)``."""
        from repdyn.analysis.propagator import Propagator
        g = check_gamma(self._need("gamma", self._gamma if gamma is None else gamma))
        key = ("propagator", g)
        if key not in self._cache:
            self._cache[key] = Propagator(self._P, g)
        return self._cache[key]

    def is_symmetric(self) -> bool:
        """Whether ``P`` equals its transpose exactly (every entry, bit for bit). Cached.

        Exact equality, not a tolerance: it licenses replacing the resolvent's singular
        vectors by ``P``'s eigenvectors (:func:`analysis.spectral.rsbfs`), an identity that
        holds for symmetric ``P`` only. The package's builders (gridworlds, four-rooms, the
        symmetric random walk) produce exactly symmetric matrices. Cost O(nnz(P)).

        Examples
        --------
        >>> from repdyn.analysis.mdp import MDP, four_rooms, ring
        >>> MDP(four_rooms(5)).is_symmetric(), MDP(ring(8)).is_symmetric()
        (True, False)
        """
        if "symmetric" not in self._cache:
            P = self._P
            if self.sparse:
                D = P - P.T
                sym = D.nnz == 0 or float(abs(D).max()) == 0.0
            else:
                sym = bool(np.array_equal(P, P.T))
            self._cache["symmetric"] = bool(sym)
        return self._cache["symmetric"]

    def sqrt_stationary(self):
        """``sqrt(pi)`` (max 1) if ``P`` is reversible and well scaled, else False. Cached."""
        if "sqrt_pi" not in self._cache:
            self._cache["sqrt_pi"] = self.propagator(0.5)._reversible()
        return self._cache["sqrt_pi"]


def as_mdp(P) -> MDP:
    """``P`` itself if it is an :class:`MDP`, else a new, validated one wrapping ``P``.

    Examples
    --------
    >>> from repdyn.analysis.mdp import as_mdp, two_state
    >>> m = as_mdp(two_state(0.3, 0.2))
    >>> m.n, m.sparse
    (2, False)
    >>> as_mdp(m) is m                   # an MDP passes through: validated once, not again
    True
    """
    return P if isinstance(P, MDP) else MDP(P)


def two_state(p: float, q: float) -> np.ndarray:
    """The 2-state chain ``[[1-p, p], [q, 1-q]]`` of the talk's Figure 1.

    Spectrum: {1, 1 - p - q}; eigenvector of 1 is the constant vector, of 1 - p - q is
    (p, -q). Diagonalisable unless p = q = 0 (then P = I).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import two_state
    >>> P = two_state(0.3, 0.2)
    >>> P
    array([[0.7, 0.3],
           [0.2, 0.8]])
    >>> np.sort(np.linalg.eigvals(P).real).round(12)          # {1 - p - q, 1}
    array([0.5, 1. ])
    >>> v = np.array([0.3, -0.2])                             # (p, -q)
    >>> bool(np.allclose(P @ v, 0.5 * v))
    True
    """
    for nm, v in (("p", p), ("q", q)):
        if not (np.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"{nm} must lie in [0, 1], got {v!r}")
    return np.array([[1.0 - p, p], [q, 1.0 - q]])


def random_walk_chain(n: int, p_right: float = 0.5, *, sparse: bool = False):
    """Random walk on a path of ``n`` states; at the ends the blocked move stays put.

    A birth-death chain, hence reversible: its spectrum is real. For p_right = 1/2 the
    eigenvalues are cos(pi j / n), j = 0..n-1 (simple; the chain is the Neumann Laplacian walk).
    With ``sparse=True`` the result is CSR (vectorised: O(n)).

    Examples
    --------
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> random_walk_chain(3)
    array([[0.5, 0.5, 0. ],
           [0.5, 0. , 0.5],
           [0. , 0.5, 0.5]])
    """
    n = check_k(n, 10**9, "n")
    if not (0.0 <= p_right <= 1.0):
        raise ValueError(f"p_right must lie in [0, 1], got {p_right!r}")
    i = np.arange(n)
    rows = np.concatenate([i, i])
    cols = np.concatenate([np.minimum(i + 1, n - 1), np.maximum(i - 1, 0)])
    vals = np.concatenate([np.full(n, float(p_right)), np.full(n, 1.0 - p_right)])
    return _assemble(rows, cols, vals, n, sparse)


def _assemble(rows, cols, vals, n, sparse):
    """Sum duplicate (row, col) entries into an n x n matrix: CSR or dense."""
    M = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    M.sum_duplicates()
    M.eliminate_zeros()
    return M if sparse else M.toarray()


def two_action_chain(n: int = 20, p_right: float = 0.9, p_left: float = 0.7,
                     r_right_end: float = 1.0, r_left_end: float = 0.1):
    """The two-action chain of docs: theory/c9.

    Actions 0 = left, 1 = right. "Right" moves one state right with probability ``p_right``,
    "left" one state left with probability ``p_left``; otherwise (and at a wall) the agent
    stays. The reward depends on the state only: ``r_right_end`` in the rightmost state and
    ``r_left_end`` in the leftmost one, else 0.

    Returns
    -------
    P : ndarray (2, n, n)  per-action transition matrices
    R : ndarray (2, n)     per-action rewards (equal rows)

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import two_action_chain
    >>> P, R = two_action_chain(5)
    >>> P.shape, R.shape
    ((2, 5, 5), (2, 5))
    >>> bool(np.allclose(P.sum(axis=2), 1.0))
    True
    >>> P[1, 0]                          # "right" from state 0: moves w.p. 0.9, else stays
    array([0.1, 0.9, 0. , 0. , 0. ])
    >>> R[0]                             # rewards at the two ends
    array([0.1, 0. , 0. , 0. , 1. ])
    """
    n = check_k(n, 10**9, "n")
    P = np.zeros((2, n, n))
    for i in range(n):
        P[0, i, max(i - 1, 0)] += p_left
        P[0, i, i] += 1.0 - p_left
        P[1, i, min(i + 1, n - 1)] += p_right
        P[1, i, i] += 1.0 - p_right
    r = np.zeros(n)
    r[-1] += r_right_end
    r[0] += r_left_end
    return P, np.stack([r, r])


def random_reversible(n: int, rng=None, *, seed=None) -> np.ndarray:
    """A random reversible chain ``P = D^{-1} W`` from a symmetric positive weight matrix W.

    P is similar to the symmetric ``D^{-1/2} W D^{-1/2}``, so its spectrum is real and it is
    diagonalisable; eigenvalues are almost surely simple.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_reversible
    >>> P = random_reversible(6, seed=0)
    >>> bool(np.allclose(P.sum(axis=1), 1.0))
    True
    >>> w, V = np.linalg.eig(P.T)
    >>> pi = V[:, np.argmax(w.real)].real
    >>> pi = pi / pi.sum()                                    # the stationary distribution
    >>> F = pi[:, None] * P
    >>> bool(np.allclose(F, F.T))                             # detailed balance: reversible
    True
    >>> bool(np.allclose(np.linalg.eigvals(P).imag, 0.0))     # hence a real spectrum
    True
    >>> bool(np.array_equal(P, random_reversible(6, np.random.default_rng(0))))
    True
    """
    n = check_k(n, 10**9, "n")
    rng = check_rng(rng, seed)
    W = rng.exponential(size=(n, n))
    W = W + W.T
    return W / W.sum(axis=1, keepdims=True)


def random_dirichlet(n: int, rng=None, *, seed=None, concentration: float = 1.0) -> np.ndarray:
    """Rows drawn iid from Dirichlet(concentration * 1): a generic, non-normal P.

    The spectrum is complex in general (conjugate pairs); λ1 = 1 is simple almost surely.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_dirichlet
    >>> P = random_dirichlet(5, seed=0)
    >>> P.shape, bool(np.allclose(P.sum(axis=1), 1.0))
    ((5, 5), True)
    >>> w = np.linalg.eigvals(P)
    >>> round(float(np.abs(w).max()), 12)                     # spectral radius 1 (lambda_1 = 1)
    1.0
    >>> bool(np.abs(w.imag).max() > 0.1)                      # a complex conjugate pair
    True
    """
    n = check_k(n, 10**9, "n")
    rng = check_rng(rng, seed)
    return rng.dirichlet(np.full(n, float(concentration)), size=n)


def ring(n: int, p_forward: float = 0.6, p_back: float = 0.2, *, sparse: bool = False):
    """Circulant walk on a ring: forward w.p. ``p_forward``, back w.p. ``p_back``, else stay.

    Eigenvalues ``1 - p_f - p_b + p_f ω^j + p_b ω^{-j}``, ω = e^{2πi/n}: complex conjugate
    pairs (j, n-j) share a real part, so EBF orders K must not split a pair: K is odd (and
    for even n, K = n or K odd below n). With ``sparse=True`` the result is CSR (O(n)).

    Examples
    --------
    >>> from repdyn.analysis.mdp import ring
    >>> ring(3, 0.6, 0.2)
    array([[0.2, 0.6, 0.2],
           [0.2, 0.2, 0.6],
           [0.6, 0.2, 0.2]])
    """
    n = check_k(n, 10**9, "n")
    if p_forward < 0 or p_back < 0 or p_forward + p_back > 1:
        raise ValueError("p_forward and p_back must be >= 0 with sum <= 1")
    i = np.arange(n)
    rows = np.concatenate([i, i, i])
    cols = np.concatenate([i, (i + 1) % n, (i - 1) % n])
    vals = np.concatenate([np.full(n, 1.0 - p_forward - p_back), np.full(n, float(p_forward)),
                           np.full(n, float(p_back))])
    return _assemble(rows, cols, vals, n, sparse)


def gridworld(height: int, width: int, walls=None):
    """Uniform random walk on a ``height x width`` grid, as scipy CSR; blocked moves stay put.

    Each of the four moves has probability 1/4; a move off the grid or into a wall cell leaves
    the agent where it is (a self-loop). States are the free cells in row-major order. ``P``
    is symmetric (every blocked move becomes a self-loop), so the walk is reversible with the
    uniform measure and the spectrum is real.

    Parameters
    ----------
    height, width : int >= 1
    walls : bool array (height, width), optional
        True where a cell is a wall (not a state).

    Returns
    -------
    scipy.sparse.csr_matrix (n, n), n the number of free cells

    Notes
    -----
    Vectorised: O(n) time and memory (5 stored entries per row at most), no loop over states;
    10^6 states take about a second.

    Examples
    --------
    >>> from repdyn.analysis.mdp import gridworld
    >>> P = gridworld(2, 3)
    >>> P.shape, float(abs(P - P.T).max())
    ((6, 6), 0.0)
    """
    height = check_k(height, 10**7, "height")
    width = check_k(width, 10**7, "width")
    if walls is None:
        wall = np.zeros((height, width), dtype=bool)
    else:
        wall = np.asarray(walls, dtype=bool)
        if wall.shape != (height, width):
            raise ValueError(f"walls must have shape (height, width) = {(height, width)}, got {wall.shape}")
    idx = -np.ones((height, width), dtype=np.int64)
    free = ~wall
    n = int(free.sum())
    if n == 0:
        raise ValueError("walls: every cell is a wall, the grid has no states")
    idx[free] = np.arange(n)
    ci, cj = np.nonzero(free)                      # row-major order, matches idx
    src = idx[ci, cj]
    rows, cols = [], []
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        a, b = ci + di, cj + dj
        inside = (a >= 0) & (a < height) & (b >= 0) & (b < width)
        tgt = src.copy()
        ok = inside.copy()
        ok[inside] = free[a[inside], b[inside]]
        tgt[ok] = idx[a[ok], b[ok]]
        rows.append(src)
        cols.append(tgt)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return _assemble(rows, cols, np.full(len(rows), 0.25), n, True)


def four_rooms(room: int = 5):
    """Four-rooms gridworld under the uniform random-walk policy, as scipy CSR.

    The grid is ``(2*room + 1)`` squared with a wall cross and one doorway per wall
    segment; a move into a wall stays put. The walk is reversible with respect to the
    uniform measure (P is symmetric: every blocked move becomes a self-loop), so the
    spectrum is real. ``room=5`` gives 104 states; ``room=50`` about 10^4, ``room=158``
    about 10^5, ``room=500`` about 10^6 (built in about a second: :func:`gridworld`).

    By the layout's symmetry, lambda_2 and lambda_3 agree to ~1e-7 or closer: the order-2
    EBF subspace is not defined (UndefinedSubspaceError).

    Examples
    --------
    >>> from repdyn.analysis.mdp import four_rooms
    >>> four_rooms(5).shape
    (104, 104)
    """
    room = check_k(room, 10**6, "room")
    size = 2 * room + 1
    wall = np.zeros((size, size), dtype=bool)
    wall[room, :] = True
    wall[:, room] = True
    # doorways: one in each of the four wall segments
    d = room // 2
    wall[room, d] = wall[room, room + 1 + d] = False
    wall[d, room] = wall[room + 1 + d, room] = False
    return gridworld(size, size, wall)


def random_sparse_chain(n: int, degree: int = 4, rng=None, *, seed=None, self_loop: bool = True):
    """A random sparse, non-normal chain: each row has ``degree`` random successors.

    Row i puts Dirichlet(1) weights on ``degree`` distinct states drawn uniformly (state
    ``i + 1 mod n`` always among them, so the chain is irreducible; with ``self_loop`` also i
    itself, so it is aperiodic). The spectrum is complex in general; lambda_1 = 1 is simple.

    Parameters
    ----------
    n : number of states (>= 2)
    degree : successors per row, 2 <= degree <= n
    rng, seed : a numpy Generator, or an int seed (one of them)
    self_loop : include i among row i's successors

    Returns
    -------
    scipy.sparse.csr_matrix (n, n)

    Notes
    -----
    Vectorised: O(n degree) time and memory.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_sparse_chain
    >>> P = random_sparse_chain(100, 5, seed=0)
    >>> P.shape, P.nnz, bool(np.allclose(P.sum(axis=1), 1.0))
    ((100, 100), 500, True)
    """
    n = check_k(n, 10**9, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    degree = check_k(degree, n, "degree")
    fixed = 2 if self_loop else 1
    if degree < fixed:
        raise ValueError(f"degree must be >= {fixed} (successor i+1{' and i itself' if self_loop else ''}), got {degree}")
    rng = check_rng(rng, seed)
    i = np.arange(n)
    base = [(i + 1) % n] + ([i] if self_loop else [])
    cols = np.stack(base, axis=1)
    extra = degree - fixed
    if extra:
        # the other candidates are i+2, ..., i+n-1 (+ i itself without self_loop): offsets
        # 0..m-1 from i+2, m = n - fixed; k distinct offsets per row
        m = n - fixed
        if m <= 4 * extra or n <= 64:
            offs = np.argsort(rng.random((n, m)), axis=1)[:, :extra]
        else:
            offs = _distinct_offsets(rng, n, m, extra)
        others = (i[:, None] + 2 + offs) % n
        cols = np.concatenate([cols, others], axis=1)
    w = rng.dirichlet(np.ones(degree), size=n)
    return _assemble(np.repeat(i, degree), cols.ravel(), w.ravel(), n, True)


def _distinct_offsets(rng, n, m, k):
    """(n, k) distinct integers from 0..m-1 per row (k << m), by redrawing duplicates."""
    out = rng.integers(0, m, size=(n, k))
    for _ in range(100):
        s = np.sort(out, axis=1)
        dup = np.any(s[:, 1:] == s[:, :-1], axis=1)
        if not dup.any():
            return out
        out[dup] = rng.integers(0, m, size=(int(dup.sum()), k))
    raise ValueError("degree too close to n for sparse sampling")


def default_mdps(quick: bool = False, seed: int = 0) -> list[MDP]:
    """The built-in MDPs that ``repdyn verify`` checks claims on.

    Sparse reward in the first (R = 0 except one state) where the claims are about collapse.

    Examples
    --------
    >>> from repdyn.analysis.mdp import default_mdps
    >>> [(m.name, m.n, m.gamma) for m in default_mdps(quick=True)][:2]
    [('two-state(p=0.3,q=0.2)', 2, 0.9), ('chain(n=10,p=0.5)', 10, 0.9)]
    >>> [m.n for m in default_mdps(quick=True)]
    [2, 10, 8, 8, 9]
    >>> default_mdps()[-1].name, default_mdps()[-1].sparse       # quick=False adds four rooms
    ('four-rooms(room=4)', True)
    >>> [int((m.R != 0).sum()) for m in default_mdps(quick=True)][:2]    # sparse reward
    [1, 1]
    """
    rng = np.random.default_rng(seed)
    out = [
        MDP("two-state(p=0.3,q=0.2)", two_state(0.3, 0.2), np.array([1.0, 0.0]), 0.9,
            "eigenvalues {1, 0.5}"),
        MDP("chain(n=10,p=0.5)", random_walk_chain(10, 0.5), _sparse_reward(10), 0.9,
            "eigenvalues cos(pi j/10), real, simple"),
        MDP("reversible(n=8)", random_reversible(8, rng), rng.standard_normal(8), 0.95,
            "real spectrum"),
        MDP("dirichlet(n=8)", random_dirichlet(8, rng), rng.standard_normal(8), 0.9,
            "generic non-normal, complex pairs"),
        MDP("ring(n=9)", ring(9), _sparse_reward(9), 0.9,
            "complex conjugate pairs; odd K only"),
    ]
    if not quick:
        out.append(MDP("four-rooms(room=4)", four_rooms(4), _sparse_reward(four_rooms(4).shape[0]),
                       0.95, "symmetric P, real spectrum, sparse"))
    return out


def _sparse_reward(n: int) -> np.ndarray:
    r = np.zeros(n)
    r[-1] = 1.0
    return r
