"""Importing this module → a Dask worker's heavy modules loaded (``batch.PRELOAD``) and frozen.

The forkserver of a ``local[:N]`` cluster imports it once, so that every worker forked from it
starts warm; on a real cluster ``dask worker --preload interview_export.dask_warm`` does the same
for each worker at its start instead of before the first run (``dask_cluster.worker_hello``).
"""

from __future__ import annotations

import gc

from .batch import PRELOAD, preload_modules

preload_modules(PRELOAD)
gc.freeze()   # what a worker imported lives as long as it: no collection goes over it again
