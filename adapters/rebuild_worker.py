"""Entry point of a parallel rebuild's worker process: `python -m complaints_ledger.adapters.rebuild_worker`.

A module of its own, so that the worker's main module is not the projection store (which would then exist twice).
"""

from complaints_ledger.adapters.projection_store import run_partition_worker

if __name__ == "__main__":
    run_partition_worker()
