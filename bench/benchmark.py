"""Speed and memory of dccnnreg against VoxelMorph (and ANTs SyN) in one run, as JSON.

    python bench/benchmark.py --out bench/results/cpu.json

For one ``--shape`` pair (default 160x192x224, 1 mm): inference time per pair and peak memory
of each network, fp32 and bf16 (bf16 on CUDA only by default); one training step (forward, loss, backward, Adam); end-to-end
throughput of registering a batch of NIfTI subjects (reading, network, warping, writing the
fields: the workflow's ``register`` job); ANTs SyN time per pair (CPU). Runs on CUDA when present
(``--device`` to force), else on CPU. Networks take their settings from ``--config`` (the
workflow config: ``dccnn_lstm`` and ``voxelmorph``). Peak memory is ``torch.cuda.max_memory_allocated``
on CUDA; on CPU it is the growth of resident memory during one call, measured in a child
process per network and precision that runs with a fixed glibc mmap threshold (freed tensors then
leave resident memory, so the growth is the call's own peak; timings stay in the main process).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from dccnnreg import networks
from dccnnreg.config import load_config, method_settings
from dccnnreg.data import Sample, SubjectFiles
from dccnnreg.device import autocast, pick_device
from dccnnreg.losses import LossWeights
from dccnnreg.nifti import save_volume
from dccnnreg.register import register_pair
from dccnnreg.register_jobs import register_cohort
from dccnnreg.syn import register_syn
from dccnnreg.synth import phantom, random_diffeomorphism
from dccnnreg.transforms import apply_field

ROOT = Path(__file__).resolve().parents[1]
NETS = ("dccnn_lstm", "voxelmorph")


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class PeakMemory:
    """Peak memory (MB) used by the code inside ``with``: CUDA allocator peak, or resident-set growth on CPU."""

    def __init__(self, device):
        self.device, self.mb = device, float("nan")

    @staticmethod
    def _rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    def _sample(self):
        while not self._done.is_set():
            self._peak = max(self._peak, self._rss_mb())
            time.sleep(0.002)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif Path("/proc/self/statm").exists():
            self._base = self._peak = self._rss_mb()
            self._done = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        elif hasattr(self, "_thread"):
            self._done.set()
            self._thread.join()
            self.mb = self._peak - self._base


def timed(fn, device, repeats: int) -> tuple[float, float]:
    """Median seconds of ``repeats`` calls after one warm-up call, and the peak memory of the warm-up call."""
    with PeakMemory(device) as mem:
        fn()
        sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return (statistics.median(times) if times else float("nan")), mem.mb


def measure_network(model, weights: LossWeights, shape, device, precision: str, repeats: int) -> dict:
    """Inference and training-step time and memory of one network at one precision."""
    gen = torch.Generator().manual_seed(0)
    m, f = (torch.rand(1, 1, *shape, generator=gen).to(device) for _ in range(2))
    model.eval()

    def infer():
        with torch.no_grad(), autocast(device, precision):
            model(m, f)

    inf_s, inf_mb = timed(infer, device, repeats)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        with autocast(device, precision):
            out = model(m, f)
        loss, _ = networks.method(model.method).objective(out, m, f, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step_s, step_mb = timed(step, device, repeats)
    model.eval()
    return {"inference_s": inf_s, "inference_peak_mb": inf_mb, "train_step_s": step_s, "train_step_peak_mb": step_mb}


def cpu_peak_memory(name: str, precision: str, shape, config_path) -> dict:
    """Inference and training-step peak memory of one network, measured in a fresh child process."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
    cmd = [sys.executable, __file__, "--memory-of", name, precision, "--shape", *map(str, shape),
           "--config", *map(str, config_path), "--device", "cpu", "--threads", str(torch.get_num_threads()), "--out", "-"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def synthetic_subjects(shape, n: int, spacing: float, rng) -> tuple[Sample, list[Sample]]:
    """A phantom atlas and ``n`` smoothly deformed copies of it on a ``spacing`` mm grid."""
    image, labels = phantom(shape, rng)
    affine = np.diag([spacing] * 3 + [1.0])
    subjects = []
    for k in range(n):
        u, _ = random_diffeomorphism(shape, rng, amplitude=4.0, sigma=12.0)
        subjects.append(Sample(f"sub-{k:02d}", *apply_field(image, labels, u), affine))
    return Sample("atlas", image, labels, affine), subjects


def network(name: str, cfg: dict, device) -> tuple[torch.nn.Module, LossWeights]:
    """A freshly initialised network of the workflow config and its loss weights."""
    settings, schedule = method_settings(name, cfg)
    torch.manual_seed(0)
    return networks.build(networks.model_config(name, settings)).to(device), LossWeights(**schedule["loss"])


def cohort_throughput(model, atlas: Sample, subjects: list[Sample], device, precision: str) -> dict:
    """Pairs per hour of the workflow's batch registration, NIfTI in and out, on ``device``."""
    with tempfile.TemporaryDirectory(prefix="dccnnreg-bench-") as tmp:
        tmp = Path(tmp)
        save_volume(atlas.image, atlas.affine, tmp / "atlas.nii.gz")
        files = []
        for s in subjects:
            save_volume(s.image, s.affine, tmp / f"{s.name}.nii.gz")
            save_volume(s.labels, s.affine, tmp / f"{s.name}_labels.nii.gz", np.int32)
            files.append(SubjectFiles(s.name, str(tmp / f"{s.name}.nii.gz"), str(tmp / f"{s.name}_labels.nii.gz")))
        register = lambda moving, fixed: register_pair(model, moving, fixed, device, precision)
        seconds = register_cohort(register, tmp / "atlas.nii.gz", files, tmp / "out", "bench", "network")
    return {"pairs": len(subjects), "seconds": seconds, "pairs_per_hour": 3600 * len(subjects) / seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs=3, default=[160, 192, 224])
    p.add_argument("--spacing", type=float, default=1.0)
    p.add_argument("--config", nargs="+", default=[str(ROOT / "config" / "config.yaml"), str(ROOT / "config" / "demo.yaml")],
                   help="workflow config files, merged in order (default: the demo's settings)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precisions", nargs="+", help="default: fp32 and bf16 on CUDA; fp32 on CPU, where bf16 "
                   "convolutions are emulated on most processors (about 10x slower than fp32 here)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cohort", type=int, default=4, help="subjects in the throughput batch (0: skip)")
    p.add_argument("--syn-presets", nargs="*", default=["quick_cc"], help="ANTs SyN presets to time (none: skip)")
    p.add_argument("--threads", type=int)
    p.add_argument("--memory-of", nargs=2, metavar=("NETWORK", "PRECISION"), help=argparse.SUPPRESS)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.threads:
        torch.set_num_threads(a.threads)
    device = pick_device(a.device)
    a.precisions = a.precisions or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    shape = tuple(a.shape)
    cfg = load_config(*a.config)
    if a.memory_of:
        name, prec = a.memory_of
        r = measure_network(*network(name, cfg, device), shape, device, prec, repeats=0)
        print(json.dumps({k: v for k, v in r.items() if k.endswith("peak_mb")}))
        return
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "shape": list(shape),
        "spacing_mm": a.spacing,
        "networks": {},
        "throughput": {},
        "syn": {},
    }
    rng = np.random.default_rng(0)
    atlas, subjects = synthetic_subjects(shape, max(a.cohort, 1), a.spacing, rng)
    for name in NETS:
        model, weights = network(name, cfg, device)
        entry = {"config": model.config.to_dict(), "parameters": sum(x.numel() for x in model.parameters()), "results": {}}
        for prec in a.precisions:
            r = entry["results"][prec] = measure_network(model, weights, shape, device, prec, a.repeats)
            if device.type == "cpu":
                r.update(cpu_peak_memory(name, prec, shape, a.config))
            print(f"{name} {prec}: inference {r['inference_s']:.3f} s/pair ({r['inference_peak_mb']:.0f} MB), "
                  f"train step {r['train_step_s']:.3f} s ({r['train_step_peak_mb']:.0f} MB)", flush=True)
        if a.cohort:
            result["throughput"][name] = cohort_throughput(model, atlas, subjects[: a.cohort], device, a.precisions[0])
        result["networks"][name] = entry
    for preset in [s for s in a.syn_presets if s != "none"]:
        reg = register_syn(subjects[0], atlas, preset)
        result["syn"][preset] = {"seconds": reg.seconds, "threads": "ITK default (all cores)"}
        print(f"ANTs SyN {preset}: {reg.seconds:.1f} s/pair on the CPU", flush=True)
    result["ratios_vs_voxelmorph"] = ratios(result)
    print_table(result)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


def ratios(result: dict) -> dict:
    """dccnnreg / VoxelMorph for every timing and memory figure measured in this run."""
    ours, theirs = (result["networks"][n]["results"] for n in NETS)
    out = {prec: {k: ours[prec][k] / theirs[prec][k] for k in ours[prec]} for prec in ours}
    if result["throughput"]:
        t = result["throughput"]
        out["throughput_pairs_per_hour"] = t["dccnn_lstm"]["pairs_per_hour"] / t["voxelmorph"]["pairs_per_hour"]
    return out


def print_table(result: dict) -> None:
    print(f"\n{result['device']}, {result['torch_threads']} threads, {'x'.join(map(str, result['shape']))}")
    print(f"{'':10s} {'metric':22s} {'dccnn_lstm':>11s} {'voxelmorph':>11s} {'ratio':>7s}")
    ours, theirs = (result["networks"][n]["results"] for n in NETS)
    for prec in ours:
        for k in ours[prec]:
            print(f"{prec:10s} {k:22s} {ours[prec][k]:11.3f} {theirs[prec][k]:11.3f} "
                  f"{result['ratios_vs_voxelmorph'][prec][k]:7.2f}")
    if result["throughput"]:
        t = result["throughput"]
        print(f"{'cohort':10s} {'pairs/hour (with I/O)':22s} {t['dccnn_lstm']['pairs_per_hour']:11.0f} "
              f"{t['voxelmorph']['pairs_per_hour']:11.0f} {result['ratios_vs_voxelmorph']['throughput_pairs_per_hour']:7.2f}")
    for preset, r in result["syn"].items():
        print(f"{'ANTs SyN':10s} {preset + ' s/pair':22s} {r['seconds']:11.1f}")


if __name__ == "__main__":
    main()
