"""API-key usage plans at request time: token-bucket throttles, quotas and per-day usage (spec §7).

See ``lychgate.usage.throttle``; state lives in a ``lychgate.store`` ``CounterStore``.
"""

from lychgate.store.base import BucketSpec, StoreUnavailable
from lychgate.usage.throttle import (USAGE_RETENTION_DAYS, Limiter, Period, QuotaSpec, QuotaState, Verdict,
                                     period_bounds)

__all__ = ["BucketSpec", "Limiter", "Period", "QuotaSpec", "QuotaState", "StoreUnavailable",
           "USAGE_RETENTION_DAYS", "Verdict", "period_bounds"]
