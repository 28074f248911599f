"""
The update-space view: interference under TD and Monte Carlo training
=====================================================================

Claim :doc:`C14 </theory/c14>`. Experiment E4 trains the same initial network on the chain of
E2 (digit-image observations, sparse reward) by TD(0) and by Monte Carlo regression onto the
true values, and measures the empirical NTK over the states along the way: interference
(``mean_{i != j} |K_ij| / K_jj``) and the kernel's effective rank. It runs here in its quick
configuration on two seeds, drawn by the same function as ``repdyn figures``; ``repdyn verify``
judges the claim on held-out seeds (see the claim page for the verdict and its numbers).
"""
import matplotlib.pyplot as plt

from repdyn.experiments import PLOTS, load_experiments

e4 = load_experiments()["E4"](seeds=[0, 1], quick=True)
fig = PLOTS["E4"](e4, {"experiment": "E4", "seeds": 2, "quick": True})
plt.show()

# %%
# The paired effects over the two seeds (positive: TD lowers interference)
for name, eff in e4["summary"].items():
    if isinstance(eff, dict) and "mean" in eff and "ci" in eff:
        print(f"{name}: {eff['mean']:.3f}  95% CI [{eff['ci'][0]:.3f}, {eff['ci'][1]:.3f}]")
