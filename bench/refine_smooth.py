"""How smooth refinement should keep the maps: ``register.refine.smooth_factor`` (or ``sigma``) swept on trained networks.

    python bench/refine_smooth.py --known-warps <real_brain.py workdir> --inter-subject <real_labelmaps.py workdir> \
        --config config/config.yaml config/demo.yaml config/cpu_3mm.yaml --out bench/results/refine_smooth_cpu.json
    python bench/refine_smooth.py ... --setting sigma --values 1 1.5 2 3 --out bench/results/refine_sigma_cpu.json

Runs ``bench/real_brain.py`` (known warps of one real scan) and ``bench/real_labelmaps.py`` (inter-subject pairs
of real anatomy) with their networks already trained in the given workdirs (``--config``: the settings they were
trained with), only ``dccnn_lstm+refine``, once per value of ``--setting`` (``--values``; the other refinement
settings as ``--refine-*`` give them, else the scripts' defaults), and keeps each run's summary (Dice, EPE, inverse
consistency, folding, seconds). Either workdir may be left out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def run(script: str, workdir: str, config: list[str], setting: str, value: float, extra: list[str]) -> dict:
    """The ``dccnn_lstm+refine`` summary row of ``script`` run on ``workdir`` with refinement ``setting`` at ``value``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run([sys.executable, str(BENCH / script), "--workdir", workdir, "--config", *config,
                        "--methods", "dccnn_lstm+refine", f"--refine-{setting}", f"{value:g}", "--out", str(out),
                        *extra], check=True, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
    row = next(r for r in result["summary"] if r["method"] == "dccnn_lstm+refine")
    return {setting.replace("-", "_"): value, **row, "device": result["device"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--known-warps", help="bench/real_brain.py's workdir (trained network)")
    p.add_argument("--inter-subject", help="bench/real_labelmaps.py's workdir (trained network)")
    p.add_argument("--config", nargs="+", required=True, help="the config files the networks were trained with")
    p.add_argument("--setting", choices=["smooth-factor", "sigma", "detail-sigma", "steps"], default="smooth-factor")
    p.add_argument("--values", nargs="+", type=float, default=[1.0, 2.0, 4.0, 8.0])
    p.add_argument("--threads", type=int)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="further options of both scripts, e.g. --extra --refine-steps 16 --field-subdivision 3")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    extra = (["--threads", str(a.threads)] if a.threads else []) + a.extra
    result = {"settings": {k: v for k, v in vars(a).items() if k != "out"}}
    for name, script, workdir in (("known_warps", "real_brain.py", a.known_warps),
                                  ("inter_subject", "real_labelmaps.py", a.inter_subject)):
        if workdir:
            result[name] = []
            for value in a.values:
                result[name].append(run(script, workdir, a.config, a.setting, value, extra))
                row = result[name][-1]
                epe = f" EPE {row['epe_mean_mm']:.3f} mm" if "epe_mean_mm" in row else ""
                print(f"{name} {a.setting} {value:g}: Dice {row['dice_mean']:.4f}{epe} "
                      f"IC {row['inverse_consistency_mm']:.3f} mm refine {row['refine_seconds']:.2f} s", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
