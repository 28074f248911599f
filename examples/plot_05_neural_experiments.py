"""
Neural experiments: one figure per claim
========================================

Claims :doc:`C11 </theory/c11>`-:doc:`C14 </theory/c14>`. ``repdyn figures`` draws one figure
per claim from the neural experiments (E1: sequential regression and target-fitting capacity,
with and without InFeR; E2: feature rank of a TD agent on a sparse-reward chain with different
auxiliary heads; E3: InFeR's ablations; E4: interference under TD and Monte Carlo training).
Here they run in the **quick** configuration on three seeds, so the figures are illustrations
(their titles say so) and the intervals are wide: ``repdyn figures`` uses the full
configuration, and ``repdyn verify`` judges the claims on held-out seeds (see the claim pages).

Each figure is a :class:`repdyn.figures.Figure`: ``compute`` runs its experiments (through a
resumable store in ``out``), ``plot`` draws the mean over seeds with a 95 % t-band, and
``caption`` states the measured effect and its interval (see :doc:`/figures`).
"""
import tempfile

import matplotlib.pyplot as plt

from repdyn.experiments import neural_figures

out = tempfile.mkdtemp()
figures, note = neural_figures(seeds=3, quick=True, out=out)
data = {}

# %%
# C11: after a sequence of targets, a network fits a new target worse
# (E1, the plain network's capacity error; one panel per probe family)
for fig in figures:
    data[fig.name] = fig.compute(dict(fig.config))
fig = figures[0]
fig.plot(data[fig.name], fig.config)
print(fig.caption(data[fig.name], fig.config))
plt.show()

# %%
# C12: InFeR keeps capacity and feature rank (E1 again: its seeds are read back from the store)
fig = figures[1]
fig.plot(data[fig.name], fig.config)
print(fig.caption(data[fig.name], fig.config))
plt.show()

# %%
# C13: feature rank by auxiliary task under TD with a sparse reward (E2), and InFeR's
# ablations H1 (frozen initial features appended) and H2 (wider layer) (E3)
fig = figures[2]
fig.plot(data[fig.name], fig.config)
print(fig.caption(data[fig.name], fig.config))
plt.show()

# %%
# C14: the update-space view, interference under TD(0) and Monte Carlo regression (E4)
fig = figures[3]
fig.plot(data[fig.name], fig.config)
print(fig.caption(data[fig.name], fig.config))
plt.show()
