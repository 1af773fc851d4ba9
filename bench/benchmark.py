"""Speed and memory of dccnnreg: inference per pair and training step, fp32 and bf16, as JSON.

    python bench/benchmark.py --shape 160 192 224 --out bench/results/cpu.json

Uses the default :class:`~dccnnreg.model.ModelConfig` (five levels) unless ``--config`` names a
YAML with a ``model`` section. Runs on CUDA when present (``--device`` to force), else on CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path

import torch
import yaml

from dccnnreg.device import autocast, pick_device
from dccnnreg.losses import LossWeights, registration_loss
from dccnnreg.model import DCCNNLSTMReg, ModelConfig


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t)
    return out


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (Linux: KiB)


def measure(model, shape, device, precision: str, repeats: int, train_steps: int) -> dict:
    m = torch.rand(1, 1, *shape, device=device)
    f = torch.rand(1, 1, *shape, device=device)
    model.eval()

    def infer():
        with torch.no_grad(), autocast(device, precision):
            model(m, f)

    infer()  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    inf = timed(infer, device, repeats)
    inf_mem = peak_mb(device)

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        with autocast(device, precision):
            out = model(m, f)
        loss, _ = registration_loss(out, m, f, LossWeights())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tr = timed(step, device, train_steps)
    return {
        "inference_s_median": statistics.median(inf),
        "inference_s_all": inf,
        "inference_peak_mb": inf_mem,
        "train_step_s_median": statistics.median(tr),
        "train_step_s_all": tr,
        "train_peak_mb": peak_mb(device),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs=3, default=[160, 192, 224])
    p.add_argument("--config", help="YAML with a 'model' section")
    p.add_argument("--device", default="auto")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = pick_device(a.device)
    cfg = ModelConfig(**(yaml.safe_load(Path(a.config).read_text())["model"] if a.config else {}))
    torch.manual_seed(0)
    model = DCCNNLSTMReg(cfg).to(device)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "shape": a.shape,
        "model_config": cfg.to_dict(),
        "parameters": sum(x.numel() for x in model.parameters()),
        "results": {},
    }
    for prec in a.precisions:
        result["results"][prec] = measure(model, tuple(a.shape), device, prec, a.repeats, a.train_steps)
        r = result["results"][prec]
        print(f"{prec}: inference {r['inference_s_median']:.3f} s/pair, train step {r['train_step_s_median']:.3f} s, "
              f"peak {r['train_peak_mb']:.0f} MB", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
