"""Training-step time alone and beside a busy neighbour process, per OpenMP waiting setting, as JSON.

    python bench/contention.py --out bench/results/contention.json

A CPU training job shares its node: one unrelated busy process beside a job that uses every core
should slow it down about in proportion to the cores it takes, not collapse it. Idle OpenMP threads
(torch's intra-op pool, libgomp) spin before they sleep, and a spinning thread holds the core that
the thread it waits for needs. For each setting (``default``: libgomp's own, ~300,000 spins;
``passive``: ``OMP_WAIT_POLICY=PASSIVE``, no spinning; ``spincount-1000``: ``GOMP_SPINCOUNT=1000``,
what ``import dccnnreg`` sets unless the variable is set) a child process times ``--steps`` training
steps of DCCNN-LSTM-Reg (the demo's network and grid by default) with ``--threads`` intra-op threads,
first alone, then while a pure-Python busy loop (one core) runs beside it. Reports median step
seconds and the slowdown (beside / alone).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "spincount-1000": {"GOMP_SPINCOUNT": "1000"}}
BUSY = "while True: pass"


def step_times(shape, config_files, steps: int) -> list[float]:
    """Seconds of each of ``steps`` training steps (after one warm-up step) on random images."""
    import torch
    from dccnnreg import networks
    from dccnnreg.config import load_config, method_settings
    from dccnnreg.losses import LossWeights

    settings, schedule = method_settings("dccnn_lstm", load_config(*config_files))
    torch.manual_seed(0)
    model = networks.build(networks.model_config("dccnn_lstm", settings))
    weights = LossWeights(**schedule["loss"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    m, f = torch.rand(1, 1, *shape), torch.rand(1, 1, *shape)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        loss, _ = networks.method(model.method).objective(model(m, f), m, f, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times[1:]


def worker(a) -> dict:
    """Median step seconds alone and beside a busy process, in this process (its OpenMP policy fixed at start)."""
    import torch  # before dccnnreg, so that its default does not apply: libgomp reads the variables as it loads

    torch.set_num_threads(a.threads)
    alone = statistics.median(step_times(a.shape, a.config, a.steps))
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(0.5)
        beside = statistics.median(step_times(a.shape, a.config, a.steps))
    finally:
        busy.kill()
        busy.wait()
    return {"threads": torch.get_num_threads(), "alone_s": alone, "beside_busy_s": beside, "slowdown": beside / alone}


def run_setting(setting: dict, a) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | setting
    cmd = [sys.executable, __file__, "--worker", "--threads", str(a.threads), "--steps", str(a.steps),
           "--shape", *map(str, a.shape), "--config", *a.config, "--out", "-"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs=3, default=[48, 64, 56])
    p.add_argument("--config", nargs="+", default=[str(ROOT / "config" / "config.yaml"), str(ROOT / "config" / "demo.yaml")])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a)))
        return
    result = {"cpu": platform.machine(), "cpu_count": os.cpu_count(), "shape": a.shape, "steps": a.steps,
              "neighbour": f"python -c '{BUSY}'", "settings": {}}
    for name, setting in SETTINGS.items():
        r = result["settings"][name] = {"environment": setting, **run_setting(setting, a)}
        print(f"{name}: {r['threads']} threads, step {r['alone_s']:.3f} s alone, "
              f"{r['beside_busy_s']:.3f} s beside a busy process ({r['slowdown']:.2f}x)", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
