"""The evaluation function's code, shipped as this whole folder (the function's code root).

In Lambda ``handler.py`` imports its sibling as the top-level module ``metrics``. Imported from the repository
(tests, the local sandbox, tools), this package registers its ``metrics`` under that name too, so the handler
and its callers share one module (and one set of exception classes). Lambda never runs this file.
"""

import sys

from . import metrics

if sys.modules.setdefault("metrics", metrics) is not metrics:
    raise ImportError("another top-level module named 'metrics' is already imported")
