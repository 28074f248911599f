"""
Your own check as a ``--plugin``
================================

A check is a function ``f(ctx) -> Outcome`` registered for a claim with
:func:`repdyn.proofs.registry.check`. Put it in a module on the Python path and run
``repdyn verify --plugin my_checks`` (or set ``REPDYN_PLUGINS=my_checks``): the module is
imported before the run, its checks join the table, and a crashing check is reported as
``fails``, never as a pass.

Here the plugin certifies one more consequence of :doc:`C1 </theory/c1>` on every built-in
MDP: the TD value at a late time equals :math:`V^* = (I - \\gamma P)^{-1}R`.
"""
import os
import subprocess
import sys
import tempfile
import textwrap

plugin = textwrap.dedent('''
    """my_checks: an extra certificate for C1."""
    import numpy as np

    from repdyn.analysis.closed_form import td_values
    from repdyn.proofs.registry import Outcome, check

    #: e^{-t(1 - gamma)} at t = 60 / (1 - gamma) is e^{-60}: far below float64 rounding
    TOL = 1e-10


    @check("C1", "my plugin: V_t -> V* at t = 60 / (1 - gamma)", method="numeric",
           quick=True, user_mdp=True)
    def late_value_is_v_star(ctx):
        worst = 0.0
        for m in ctx.mdps:
            P, R, g = m.dense_P(), m.R, m.gamma
            V_star = np.linalg.solve(np.eye(m.n) - g * P, R)
            V = td_values(P, R, g, np.zeros(m.n), [60.0 / (1 - g)])[0]
            worst = max(worst, float(np.max(np.abs(V - V_star)) / max(1.0, np.max(np.abs(V_star)))))
        return Outcome("holds" if worst < TOL else "fails", measured=worst, predicted=0.0,
                       tolerance=TOL, reason=f"worst relative error over {len(ctx.mdps)} MDPs")
''')
folder = tempfile.mkdtemp()
with open(os.path.join(folder, "my_checks.py"), "w") as fh:
    fh.write(plugin)

# %%
# The command line, exactly as a user runs it (the plugin's folder on ``PYTHONPATH``):
env = dict(os.environ, PYTHONPATH=folder + os.pathsep + os.environ.get("PYTHONPATH", ""))
proc = subprocess.run([sys.executable, "-m", "repdyn", "verify", "--quick", "--claims", "C1",
                       "--plugin", "my_checks"], env=env, capture_output=True, text=True)
print(proc.stdout)
print("exit status", proc.returncode)
