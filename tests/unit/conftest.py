"""Hypothesis profiles of the hostile-input tests (registered here, before its plugin chooses one).

``default`` keeps the unit suite fast; ``--hypothesis-profile=long`` generates a hundred times as many
inputs per property (``--hypothesis-show-statistics`` counts them).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=60, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", parent=settings.get_profile("default"), max_examples=6000)
settings.load_profile("default")
