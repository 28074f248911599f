"""Hypothesis strategies for MDPs and the random draws of the theory, for reuse in property tests.

Example
-------
>>> from hypothesis import given
>>> from repdyn.analysis import strategies as rs
>>> from repdyn.analysis.closed_form import td_values
>>> @given(rs.transition_matrices(), rs.discounts())
... def test_td_reaches_vstar(P, gamma):
...     R = np.ones(P.shape[0])
...     V = td_values(P, R, gamma, np.zeros(P.shape[0]), [200.0])[0]
...     assert np.allclose(V, R / (1 - gamma))

Every strategy returns float64 arrays that pass :func:`analysis.mdp.check_transition` (rows sum
to one within 1e-15 after renormalisation).
"""
from __future__ import annotations

import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.extra import numpy as hnp

from repdyn.analysis.mdp import four_rooms

__all__ = ["transition_matrices", "reversible_matrices", "gapped_matrices", "rings",
           "gridworlds", "rewards", "discounts", "heads", "cumulants", "initial_features"]

_UNIT = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False, width=64)


def _normalise_rows(M: np.ndarray) -> np.ndarray:
    M = np.array(M, dtype=np.float64)
    s = M.sum(axis=1)
    zero = s <= 0
    M[zero] = 1.0
    s[zero] = M.shape[1]
    return M / s[:, None]


@st.composite
def transition_matrices(draw, n=st.integers(1, 8), sparsity: float = 0.0):
    """General dense row-stochastic matrices (non-normal, possibly reducible or periodic).

    ``sparsity``: probability that an entry is forced to zero (rows never end empty).

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(rs.transition_matrices(sparsity=0.5))
    ... def test_stochastic(P):
    ...     assert np.allclose(P.sum(axis=1), 1.0) and (P >= 0).all()
    >>> test_stochastic()
    """
    n = draw(n) if isinstance(n, st.SearchStrategy) else int(n)
    M = draw(hnp.arrays(np.float64, (n, n), elements=_UNIT))
    if sparsity > 0:
        mask = draw(hnp.arrays(np.bool_, (n, n), elements=st.booleans()))
        M = np.where(mask & (draw(_UNIT) < sparsity), 0.0, M)
    return _normalise_rows(M)


@st.composite
def reversible_matrices(draw, n=st.integers(1, 8)):
    """Reversible chains ``D^{-1} W`` with W symmetric, positive diagonal: real spectrum,
    diagonalisable.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(rs.reversible_matrices())
    ... def test_real_spectrum(P):
    ...     assert np.abs(np.linalg.eigvals(P).imag).max() < 1e-8
    >>> test_real_spectrum()
    """
    n = draw(n) if isinstance(n, st.SearchStrategy) else int(n)
    M = draw(hnp.arrays(np.float64, (n, n), elements=_UNIT))
    W = M + M.T + np.eye(n) * 1e-3
    return _normalise_rows(W)


@st.composite
def gapped_matrices(draw, n=st.integers(3, 8), K=None, min_rel_gap: float = 0.2):
    """Reversible metastable chains with a prescribed relative gap after the K-th eigenvalue.

    K clusters of states, dense inside and weakly (weight ``eps``) connected across: the K
    top eigenvalues are near 1, the next is bounded by the clusters' own second eigenvalues.
    ``eps`` is shrunk until ``(l_K - l_{K+1}) / (l_1 - l_n) >= min_rel_gap`` (real spectrum).

    Returns ``(P, K)``.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(rs.gapped_matrices(min_rel_gap=0.2))
    ... def test_gap(case):
    ...     P, K = case
    ...     lam = np.sort(np.linalg.eigvals(P).real)[::-1]
    ...     assert lam[K - 1] - lam[K] >= 0.2 * (lam[0] - lam[-1]) - 1e-12
    >>> test_gap()
    """
    n = draw(n) if isinstance(n, st.SearchStrategy) else int(n)
    K = draw(st.integers(1, max(1, n // 2))) if K is None else int(K)
    if not (1 <= K < n):
        raise ValueError(f"K must satisfy 1 <= K < n = {n}, got {K}")
    labels = np.arange(n) % K
    M = draw(hnp.arrays(np.float64, (n, n), elements=st.floats(0.1, 1.0, width=64)))
    S = M + M.T
    same = labels[:, None] == labels[None, :]
    for eps in (1e-1, 1e-2, 1e-3, 1e-4, 1e-6):
        W = np.where(same, S, eps * S)
        P = _normalise_rows(W)
        lam = np.sort(np.linalg.eigvals(P).real)[::-1]
        spread = lam[0] - lam[-1]
        if spread > 0 and (lam[K - 1] - lam[K]) >= min_rel_gap * spread:
            return P, K
    assume(False)  # no eps gave the gap: reject this draw (rare)


@st.composite
def rings(draw, n=st.integers(3, 12)):
    """Circulant walks on a ring (complex conjugate eigenvalue pairs; EBF orders must be odd).

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(rs.rings())
    ... def test_circulant(P):
    ...     assert np.allclose(P[1:], np.array([np.roll(P[0], i) for i in range(1, len(P))]))
    >>> test_circulant()
    """
    n = draw(n) if isinstance(n, st.SearchStrategy) else int(n)
    pf = draw(st.floats(0.05, 0.9))
    pb = draw(st.floats(0.0, 0.95 - pf))
    if abs(pf - pb) < 1e-3:
        pb = max(0.0, pb - 0.01)
    P = np.zeros((n, n))
    for i in range(n):
        P[i, i] += 1.0 - pf - pb
        P[i, (i + 1) % n] += pf
        P[i, (i - 1) % n] += pb
    return P


def gridworlds(max_room: int = 4):
    """Sparse four-rooms gridworlds (scipy CSR) under the random-walk policy.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> import scipy.sparse as sp
    >>> @settings(max_examples=5, deadline=None)
    ... @given(rs.gridworlds(max_room=3))
    ... def test_sparse(P):
    ...     assert sp.issparse(P) and np.allclose(P.sum(axis=1), 1.0)
    >>> test_sparse()
    """
    return st.integers(2, max_room).map(four_rooms)


def rewards(n: int, scale: float = 10.0, sparse: bool = False):
    """Reward vectors of length ``n``; ``sparse=True`` gives at most one non-zero state.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(rs.rewards(6, sparse=True))
    ... def test_sparse_reward(R):
    ...     assert R.shape == (6,) and np.count_nonzero(R) <= 1
    >>> test_sparse_reward()
    """
    if sparse:
        return st.tuples(st.integers(0, n - 1), st.floats(-scale, scale)).map(
            lambda iv: np.bincount([iv[0]], weights=[iv[1]], minlength=n).astype(np.float64))
    return hnp.arrays(np.float64, (n,), elements=st.floats(-scale, scale, width=64))


def discounts(min_value: float = 0.05, max_value: float = 0.99):
    """Discounts in [min_value, max_value] (gamma > 0 for every alignment claim).

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=20, deadline=None)
    ... @given(rs.discounts())
    ... def test_range(gamma):
    ...     assert 0.05 <= gamma <= 0.99
    >>> test_range()
    """
    return st.floats(min_value, max_value, allow_nan=False)


def initial_features(n: int, K: int, scale: float = 1.0):
    """Initial features / values (n, K) with entries in [-scale, scale].

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=10, deadline=None)
    ... @given(rs.initial_features(5, 2, scale=0.5))
    ... def test_bounds(Phi0):
    ...     assert Phi0.shape == (5, 2) and np.abs(Phi0).max() <= 0.5
    >>> test_bounds()
    """
    return hnp.arrays(np.float64, (n, K), elements=st.floats(-scale, scale, width=64))


def heads(K: int, M: int, scaling: str = "ii"):
    """Fixed ensemble heads W (K, M) drawn from a seed: scaling "i" sigma^2 = 1 (use alpha=1/M),
    "ii" sigma^2 = 1/M (alpha = 1), as in Thm 4.1.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> @settings(max_examples=10, deadline=None)
    ... @given(rs.heads(2, 5, scaling="ii"))
    ... def test_shape(W):
    ...     assert W.shape == (2, 5) and W.dtype == np.float64
    >>> test_shape()
    """
    if scaling not in ("i", "ii"):
        raise ValueError(f"scaling must be 'i' or 'ii', got {scaling!r}")
    sd = 1.0 if scaling == "i" else 1.0 / np.sqrt(M)
    return st.integers(0, 2**32 - 1).map(
        lambda s: sd * np.random.default_rng(s).standard_normal((K, M)))


def cumulants(n: int, M: int, Sigma=None):
    """Random cumulants C (n, M), columns iid N(0, Sigma) (Sigma = I if None), from a seed.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from repdyn.analysis import strategies as rs
    >>> Sigma = 0.5 * np.eye(4) + 0.5                     # positive definite (Cholesky)
    >>> @settings(max_examples=10, deadline=None)
    ... @given(rs.cumulants(4, 3, Sigma=Sigma))
    ... def test_shape(C):
    ...     assert C.shape == (4, 3) and np.isfinite(C).all()
    >>> test_shape()
    """
    L = None if Sigma is None else np.linalg.cholesky(np.asarray(Sigma, dtype=np.float64))

    def make(s):
        Z = np.random.default_rng(s).standard_normal((n, M))
        return Z if L is None else L @ Z
    return st.integers(0, 2**32 - 1).map(make)
