"""
Neural experiments: feature rank and capacity
=============================================

Claims :doc:`C10 </theory/c10>`-:doc:`C13 </theory/c13>` at a small size. The experiments of
``repdyn figures`` / ``repdyn experiment`` (E1: sequential regression and target-fitting
capacity; E2: feature rank of a TD agent on a sparse-reward MDP with different auxiliary
heads; E3: the InFeR ablations) run here in their ``quick`` configuration on one seed, so
the curves are illustrations, not the judged result: ``repdyn verify`` judges the claims on
held-out seeds (see the claim pages).
"""
import matplotlib.pyplot as plt
import numpy as np

from repdyn.experiments import load_experiments, series

experiments = load_experiments()
print(sorted(experiments))


def plot_curves(result, title, max_panels=3):
    """One panel per kind of curve (rank, capacity, loss, error); mean over seeds."""
    groups = {}
    for path, arr in series(result):
        kind = next((k for k in ("rank", "capacity", "loss", "error") if k in path.lower()), None)
        if kind:
            groups.setdefault(kind, []).append((path, arr))
    kinds = list(groups)[:max_panels]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for path, arr in groups[kind][:8]:
            y = arr.mean(axis=0) if arr.ndim == 2 else arr
            ax.plot(np.arange(len(y)), y, label=path[-40:])
        ax.set_title(kind)
        ax.set_xlabel("logged step")
        ax.legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# %%
# E2: feature rank under TD with ensemble heads, random cumulants and InFeR
e2 = experiments["E2"](seeds=[0], quick=True)
plot_curves(e2, "E2 (quick, 1 seed): sparse-reward TD")
plt.show()

# %%
# E1: capacity after a sequence of targets, with and without InFeR
e1 = experiments["E1"](seeds=[0], quick=True)
plot_curves(e1, "E1 (quick, 1 seed): sequential regression")
plt.show()

# %%
# E3: InFeR and its two ablations (H1: random initial features appended; H2: wider layer)
e3 = experiments["E3"](seeds=[0], quick=True)
plot_curves(e3, "E3 (quick, 1 seed): InFeR ablations")
plt.show()
