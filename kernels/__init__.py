"""The simulation side: numba-jitted flows and neural-network probes (docs: architecture).

Kernels compile on first call, never on import. :func:`warmup` compiles every kernel once
(the test suite calls it once per run).
"""
import importlib
import importlib.util

#: Modules that define a ``_warmup()`` compiling their jitted kernels on tiny inputs.
_WARMUP_MODULES = ("repdyn.kernels.flows", "repdyn.kernels.nn", "repdyn.kernels.probes", "repdyn.kernels.agent")


def warmup() -> list[str]:
    """Compile every jitted kernel on tiny inputs; returns the modules warmed."""
    done = []
    for name in _WARMUP_MODULES:
        if importlib.util.find_spec(name) is None:  # module not built yet
            continue
        mod = importlib.import_module(name)
        if hasattr(mod, "_warmup"):
            mod._warmup()
            done.append(name)
    return done
