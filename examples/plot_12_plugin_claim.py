"""
Your own check or claim as a ``--plugin``
=========================================

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

# %%
# Your own claim
# --------------
# A plugin may also add a claim: one :class:`~repdyn.proofs.registry.Claim` entry in
# :data:`~repdyn.proofs.registry.CLAIMS` plus its checks. Here "U1": with a non-negative reward,
# :math:`V^* = \sum_k \gamma^k P^k R` is non-negative and grows with :math:`\gamma` (every term
# of the Neumann series is non-negative). It runs with the registry's :func:`~repdyn.proofs.registry.run`;
# on the command line, plain ``repdyn verify --plugin my_claims`` includes it, and
# ``repdyn verify --claims U1 --plugin my_claims`` runs it alone (the ids of ``--claims`` are
# checked after the plugins are imported).
claim_plugin = textwrap.dedent('''
    """my_claims: a new claim U1 with one check."""
    import numpy as np

    from repdyn.analysis.closed_form import true_values
    from repdyn.proofs.registry import CLAIMS, Claim, Outcome, check

    CLAIMS["U1"] = Claim("U1", "V* monotone in gamma",
                         "For R >= 0, V* >= 0 and V* grows with gamma.",
                         "P stochastic, R >= 0", "exact")

    #: rounding of an LU solve relative to ||V*||: a few ulps times the condition number
    SLACK = 1e-10


    @check("U1", "V*(gamma) on a grid of discounts", method="numeric", user_mdp=True)
    def monotone(ctx):
        worst = 0.0
        for m in ctx.mdps:
            R = np.abs(m.R)
            Vs = [true_values(m.dense_P(), R, g) for g in (0.1, 0.5, 0.9, 0.99)]
            scale = max(1.0, float(np.max(np.abs(Vs[-1]))))
            worst = max(worst, float(-min(Vs[0].min(), *(np.diff(Vs, axis=0).min(axis=1)))) / scale)
        return Outcome("holds" if worst <= SLACK else "fails", measured=worst, predicted=0.0,
                       tolerance=SLACK, reason="largest decrease of V* as gamma grows")
''')
with open(os.path.join(folder, "my_claims.py"), "w") as fh:
    fh.write(claim_plugin)

# Run in a fresh process, as the command would (a plugin changes the registry of the
# process that imports it):
snippet = ("import my_claims\n"
           "from repdyn.proofs import registry\n"
           "from repdyn.report import format_table\n"
           "print(format_table(registry.run(['U1'], registry.Context(quick=True))))\n")
proc = subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True, text=True)
print(proc.stdout or proc.stderr)
