"""Test-suite set-up: hypothesis profiles and a one-off numba warm-up.

Profiles: ``ci`` (default; derandomised, bounded examples, no deadline) and ``dev`` (more
examples). Choose with ``--hypothesis-profile=dev`` or ``HYPOTHESIS_PROFILE=dev``.
"""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=30, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def _numba_warm():
    """Compile all jitted kernels once, so no test pays (or times) the compile."""
    from repdyn import kernels
    kernels.warmup()
    yield
