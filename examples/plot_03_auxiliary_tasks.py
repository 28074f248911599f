"""
The auxiliary-task table as curves
==================================

Claims :doc:`C5 </theory/c5>`-:doc:`C8 </theory/c8>`. For each auxiliary task (ensemble,
random cumulants, additional policies, several discounts), without and with reward, the
infinite-ensemble limits of :mod:`repdyn.analysis.closed_form`: the feature norm, the distance
of :math:`\\mathrm{span}(\\Phi_t - \\Phi_\\infty)` to the EBFs, and the distance of
:math:`\\mathrm{span}\\,\\Phi_t` to the RSBFs. Without reward everything but random cumulants
collapses; every path aligns with the EBFs (of :math:`\\bar P` for additional policies).
"""
import matplotlib.pyplot as plt

from repdyn.figures import FIGURES

fig = next(f for f in FIGURES if f.name == "fig_c8_auxiliary_tasks")
data = fig.compute(dict(fig.config))
fig.plot(data, fig.config)
plt.show()

# %%
for row in data["rows"]:
    print(f"{row['task']:20s} reward={row['reward']!s:5s} ||Phi_T|| = {row['norm'][-1]:.3g}  "
          f"d(span(Phi_T - Phi_inf), EBFs) = {row['dist_dev_ebf'][-1]:.2g}")
