"""Process settings of the Pulumi program that the SDK does not choose for us.

The SDK keeps every registered resource (its inputs, outputs and futures) alive until
the program ends, so the heap only grows: about 19,000 resources for the paris stack.
Python's cyclic garbage collector rescans that heap each time enough new objects have
been allocated, and finds almost nothing to free: under Pulumi's mocks it took about
60% of the paris evaluation's CPU time. What the program allocates before it declares
anything (the SDK, gRPC, protobuf, the fleet spec) is moved out of the collector's view
with ``gc.freeze()``, and the youngest generation is collected far less often. Cycles
are still collected, so memory stays bounded by what the SDK itself keeps.
"""

from __future__ import annotations

import gc

# Allocations between two collections of the youngest generation (CPython's default: 700).
# Measured on the paris stack under mocks (make bench --only pulumi, 2026-11-30): 50,000
# left 3,500 VMs at about 36 s of CPU; 1,000,000 brings them to about 24 s, within 1 % of
# the memory and 2 s of a disabled collector, which would stop collecting cycles at all.
GEN0_THRESHOLD = 1_000_000


def tune_gc(gen0_threshold: int = GEN0_THRESHOLD) -> tuple[int, int, int]:
    """Freeze what is already allocated and collect the young generation less often.

    Returns the previous thresholds (for tests and benchmarks that compare both)."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, previous[1], previous[2])
    return previous
