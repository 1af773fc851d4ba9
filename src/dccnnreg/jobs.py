"""What every workflow job does first: its log file and its CPU threads. Imports no torch, so the
jobs that need none (preprocessing, input checks) start in a fraction of the time."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


def start_log(path, threads: int | None = None) -> None:
    """Send logging, stdout and stderr of a job to its log file; cap torch's and ITK's (ANTs) CPU threads
    at ``threads`` (torch loaded later reads the variables; torch already loaded is told directly)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    if threads:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
