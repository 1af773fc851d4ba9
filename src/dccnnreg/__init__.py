"""DCCNN-LSTM-Reg: symmetric diffeomorphic learned registration of brain MRI."""

import os

# torch's CPU threads (libgomp) spin ~300,000 times before they sleep; beside a busy neighbour a spinning
# thread holds the core its partner needs. A short spin keeps the speed alone and the slowdown near the
# neighbour's share (bench/contention.py). Read when torch loads, so set before; a user's value wins.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
