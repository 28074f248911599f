"""
Your own property test with ``repdyn.analysis.strategies``
==========================================================

:mod:`repdyn.analysis.strategies` holds hypothesis strategies for valid inputs: transition
matrices (general, reversible, with a guaranteed eigen-gap, rings, gridworlds), rewards,
discounts, heads, cumulants and initial features. Use them to test your own variation of the
theory. Here: the TD value of a constant reward is :math:`1/(1-\\gamma)` in every state
(:doc:`C1 </theory/c1>`), and on matrices with a gap at :math:`K` the EBFs are an orthonormal
basis of an invariant subspace of :math:`P`.

In a test file you would only write the decorated functions; pytest runs them. Here we call
them directly, which runs hypothesis's search.
"""
import numpy as np
from hypothesis import given, settings

from repdyn.analysis import strategies as rs
from repdyn.analysis.closed_form import td_values
from repdyn.analysis.spectral import ebfs

#: the closed form is evaluated at t = 400 / (1 - gamma): e^{-400} is far below rounding
RTOL = 1e-9


@settings(max_examples=30, deadline=None)
@given(rs.transition_matrices(), rs.discounts())
def test_constant_reward(P, gamma):
    n = P.shape[0]
    V = td_values(P, np.ones(n), gamma, np.zeros(n), [400.0 / (1 - gamma)])[0]
    np.testing.assert_allclose(V, 1.0 / (1.0 - gamma), rtol=RTOL)


#: invariance residual of an orthonormal basis computed in float64 from a gapped spectrum
INVARIANCE_TOL = 1e-6


@settings(max_examples=30, deadline=None)
@given(rs.gapped_matrices())
def test_ebfs_span_an_invariant_subspace(case):
    P, K = case                       # gapped_matrices draws (P, K)
    U = ebfs(P, K)
    np.testing.assert_allclose(U.T @ U, np.eye(K), atol=1e-12)
    # P U stays in span U: the residual of projecting P U onto span U is zero
    PU = P @ U
    assert np.linalg.norm(PU - U @ (U.T @ PU)) < INVARIANCE_TOL * max(1.0, np.linalg.norm(PU))


test_constant_reward()
test_ebfs_span_an_invariant_subspace()
print("both properties held on every example hypothesis generated")

# %%
# A property that is false is caught, with a minimal counterexample. Claiming that the value
# of a constant reward is 1 (forgetting the discount) fails:


@settings(max_examples=20, deadline=None)
@given(rs.transition_matrices(), rs.discounts())
def test_wrong(P, gamma):
    n = P.shape[0]
    V = td_values(P, np.ones(n), gamma, np.zeros(n), [400.0 / (1 - gamma)])[0]
    np.testing.assert_allclose(V, 1.0, rtol=RTOL)


try:
    test_wrong()
except AssertionError as exc:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()][:3]
    print("hypothesis found a counterexample:")
    print("\n".join(getattr(exc, "__notes__", [])[:3] + lines))
