"""
Figure 1: TD and Monte Carlo value trajectories
===============================================

The talk's Figure 1 (claims :doc:`C1 </theory/c1>` and :doc:`C2 </theory/c2>`). On a
two-state MDP the Monte Carlo flow :math:`\\dot V = V^* - V` moves every value estimate in a
straight line to :math:`V^*`; the TD flow :math:`\\dot V = -AV + R` bends onto the slow
eigenvector of :math:`P` (the constant vector, eigenvalue 1) first, because its error decays
like :math:`e^{-t(1 - \\gamma\\lambda_i)}` along eigenvector :math:`i`.

This is the figure ``repdyn figures`` draws, computed here from the same entry of
:data:`repdyn.figures.FIGURES` with the exact closed forms
(:func:`repdyn.analysis.closed_form.td_values`, :func:`repdyn.analysis.closed_form.mc_values`).
"""
import matplotlib.pyplot as plt

from repdyn.figures import FIGURES

fig1 = next(f for f in FIGURES if f.name == "fig1_two_state_td_vs_mc")
print(fig1.config)
data = fig1.compute(dict(fig1.config))
fig1.plot(data, fig1.config)
plt.show()

# %%
# The caption ``repdyn figures`` writes beside the PNG, with the numbers of this run:
print(fig1.caption(data, fig1.config))

# %%
# The same trajectory in a few lines: the error after time :math:`t` is
# :math:`e^{-tA}(V_0 - V^*)`.
import numpy as np

from repdyn.analysis.closed_form import td_values, true_values
from repdyn.analysis.mdp import two_state

P = two_state(0.3, 0.2)
R = np.array([1.0, 0.0])
V_star = true_values(P, R, 0.9)
V = td_values(P, R, 0.9, V_star + np.array([3.0, 0.0]), np.linspace(0.0, 12.0, 5))
print(np.round(V - V_star, 4))   # the error turns towards (1, 1) as it shrinks
