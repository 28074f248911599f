"""One conversion of results to strict JSON, shared by the registry, the experiments and sweeps."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(x):
    """Nested dicts/lists/tuples/arrays and numpy scalars -> plain JSON types.

    Tuples become lists, numpy scalars Python ones, non-finite floats ``None`` (strict JSON
    has no NaN or Infinity), anything else unknown its ``str``. The output is stable, so it
    can also be hashed (sweep cell keys).

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> from repdyn.analysis.jsonable import to_jsonable
    >>> to_jsonable({"a": np.arange(3), "b": (np.float64(0.5), np.nan), 1: np.bool_(True)})
    {'a': [0, 1, 2], 'b': [0.5, None], '1': True}
    >>> json.dumps(to_jsonable({"x": np.array([[1.0, np.inf]])}), allow_nan=False)   # strict JSON
    '{"x": [[1.0, null]]}'
    >>> to_jsonable(1 + 2j)                  # anything else: its str
    '(1+2j)'
    """
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)
