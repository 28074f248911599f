"""
Figure 3: transfer along the value-improvement path
===================================================

Claim :doc:`C9 </theory/c9>` (our reconstruction of the talk's Figure 3). Features fixed from
the uniform policy :math:`\\pi_0` (EBFs, RSBFs of :math:`P^{\\pi_0}`, and random Gaussian
feature sets) fit the values of the policies along soft policy iteration; EBFs and RSBFs
should beat the median random draw at most steps.
"""
import matplotlib.pyplot as plt

from repdyn.figures import FIGURES

fig = next(f for f in FIGURES if f.name == "fig3_value_improvement_transfer")
data = fig.compute(dict(fig.config))
fig.plot(data, fig.config)
plt.show()

# %%
# Fraction of the path on which each basis beats the median random draw:
print(data["beat_fraction"])
