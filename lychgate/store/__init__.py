"""State stores for throttles, quotas, usage counts and records: memory, sqlite or Redis.

``open_store(url)`` picks one (see ``lychgate.store.base``); all implement ``CounterStore``.
"""

from lychgate.store.base import (BucketSpec, Counter, CounterStore, Outcome, StoreUnavailable, Tally,
                                 open_store)

__all__ = ["BucketSpec", "Counter", "CounterStore", "Outcome", "StoreUnavailable", "Tally", "open_store"]
