"""
Your own MDP from a file
========================

``repdyn verify --mdp FILE`` checks every claim that applies to an arbitrary MDP on yours, and
``repdyn analyse FILE`` reports its spectrum and predicted rates. A file is ``.npz`` or
``.json`` with keys ``P`` (n x n), ``R`` (n) and ``gamma``; or per-action ``P`` (A x n x n),
``R`` (A x n) and a ``policy`` (n x A), reduced to :math:`P^\\pi`, :math:`R^\\pi`.

This example writes a small file, runs the same code the two commands run, and shows what
invalid input looks like.
"""
import os
import tempfile

import numpy as np

from repdyn.analysis.mdp import random_reversible

folder = tempfile.mkdtemp()
path = os.path.join(folder, "my_mdp.npz")
P = random_reversible(6, seed=3)                 # reversible: a real spectrum
R = np.zeros(6)
R[-1] = 1.0
np.savez(path, P=P, R=R, gamma=0.9)

# %%
# ``repdyn analyse my_mdp.npz``: the spectrum, the eigen-gaps and the predicted alignment
# rates :math:`\\gamma(\\lambda_K - \\lambda_{K+1})` for every order :math:`K`.
from repdyn.analyse import analyse, format_analysis
from repdyn.mdpfile import load_mdp

mdp = load_mdp(path)
print(format_analysis(analyse(mdp, k=3)))

# %%
# ``repdyn verify --mdp my_mdp.npz --claims C1,C2,C3``: the registry run on this MDP only
# (checks registered with ``user_mdp=True``; the others are listed as not-applicable).
from repdyn.proofs import registry
from repdyn.report import format_table

ctx = registry.Context(quick=True, mdps=[mdp], user_mdp=True)
results = registry.run(["C1", "C2", "C3"], ctx)
print(format_table(results))

# %%
# Invalid input is refused with a message that names the field:
bad = os.path.join(folder, "bad.npz")
np.savez(bad, P=P * 1.01, R=R, gamma=0.9)        # rows no longer sum to one
try:
    load_mdp(bad)
except ValueError as exc:
    print("ValueError:", exc)
