"""Test-suite settings.

Under CI (``CI`` set, as the project's ``.ci/run`` runs) Hypothesis draws the same examples on
every run (``derandomize``): a property a new random draw breaks is found on a developer's
machine, where a failure can be looked at, not as a flaky CI run. Locally each run draws afresh.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
