"""The whole workflow on real anatomy with the documented CPU schedule: the network alone, then refined.

    python bench/workflow_labelmaps.py --out bench/results/workflow_labelmaps_cpu.json

Each label map in ``../shared/data/real_labelmaps/`` becomes a skull-stripped T1-like brain at 2 mm in its own
scanner position (:func:`dccnnreg.synth.write_labelmap_t1`); the ``--atlas`` subject is the template (brain,
mask, its 31 scored structures). A subject sheet sends the others through Snakemake, as a user's cohort would go:
N4 and the ANTs affine to the template, a 3 mm network grid, training on the train split with
``config/cpu_3mm.yaml``, registration of every subject, and the benchmark of the test subjects against the
template's labels for ``affine``, ``syn`` (``full``) and ``dccnn_lstm``. The workflow runs twice in one working
directory: with ``register.refine.steps: 0`` (the network alone), then with ``config/cpu_3mm.yaml``'s refinement;
the second run reruns only the stages that refinement's settings reach (listed in the JSON). Each run's
``report/summary.tsv`` and ``report/per_subject.tsv`` go to the JSON. A rerun of this script resumes from the
working directory.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml
from dccnnreg.synth import write_labelmap_t1

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real_labelmaps"
SPLITS = {**{f"subject{k:02d}": "train" for k in range(2, 6)}, "subject06": "val",
          **{f"subject{k:02d}": "test" for k in range(7, 11)}}  # as bench/real_labelmaps.py


def write_cohort(data: Path, work: Path, atlas: str) -> dict:
    """Brains, the template and the subject sheet in ``work``; returns the cohort part of the config."""
    brains = work / "brains"
    brains.mkdir(parents=True, exist_ok=True)
    files = {}
    for k, s in enumerate([atlas, *SPLITS]):
        files[s] = {key: brains / f"{s}_{key}.nii.gz" for key in ("brain", "mask", "labels")}
        if not all(p.exists() for p in files[s].values()):
            write_labelmap_t1(data / f"{s}_labels.nii.gz", [k], 2, files[s])
    rows = [f"real\t{s}\t{files[s]['brain']}\t{files[s]['labels']}\t{split}" for s, split in SPLITS.items()]
    (work / "subjects.tsv").write_text("dataset\tsubject\timage\tlabels\tsplit\n" + "\n".join(rows) + "\n")
    tpl = files[atlas]
    return {"subjects": str(work / "subjects.tsv"),
            "template": {"head": str(tpl["brain"]), "brain_mask": str(tpl["mask"]), "labels": str(tpl["labels"])}}


def snakemake(work: Path, configs: list[Path], cores: int) -> dict[str, int]:
    """Run the workflow on ``work``; returns rule -> jobs run (Snakemake's job statistics)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", str(cores),
           "--directory", str(work), "--configfile", *map(str, configs)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    (work / "snakemake.log").open("a").write(out.stdout + out.stderr)
    if out.returncode:
        raise SystemExit(f"snakemake failed (log: {work / 'snakemake.log'}):\n{out.stderr[-3000:]}")
    stats = re.search(r"Job stats:\n(.*?)\n\n", out.stdout + out.stderr, re.S)
    rows = stats.group(1).splitlines()[2:] if stats else []
    return {r.split()[0]: int(r.split()[1]) for r in rows if len(r.split()) == 2 and r.split()[0] != "total"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--atlas", default="subject01")
    p.add_argument("--shape", nargs=3, type=int, default=[56, 64, 64], help="network grid (template's L, I, A axes)")
    p.add_argument("--steps", type=int, help="training steps (default: config/cpu_3mm.yaml's)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--workdir", default=str(ROOT / "bench" / "work" / "workflow_labelmaps"))
    p.add_argument("--out", required=True)
    a = p.parse_args()
    work = Path(a.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cohort = {**write_cohort(Path(a.data), work, a.atlas), "grid": {"shape": a.shape, "spacing_mm": 3.0},
              "preprocess": {"skull_strip": False}, "methods": ["affine", "syn", "dccnn_lstm"],
              "syn": {"preset": "full", "seed": 0}}
    if a.steps:
        cohort["train"] = {"steps": a.steps}
    cpu = ROOT / "config" / "cpu_3mm.yaml"
    refine_steps = yaml.safe_load(cpu.read_text())["register"]["refine"]["steps"]
    configs = {"network": work / "network_only.yaml", "refined": work / "refined.yaml"}
    (work / "cohort.yaml").write_text(yaml.safe_dump(cohort))
    configs["network"].write_text(yaml.safe_dump({"register": {"refine": {"steps": 0}}}))
    configs["refined"].write_text(yaml.safe_dump({"register": {"refine": {"steps": refine_steps}}}))
    result = {"settings": {"data": a.data, "atlas": a.atlas, "splits": SPLITS, "grid": cohort["grid"],
                           "config": ["config/config.yaml", "<cohort>", "config/cpu_3mm.yaml"],
                           "train_steps": a.steps, "cores": a.cores,
                           "device": f"cpu ({platform.machine()}), {a.cores} cores"}}
    for run, extra in configs.items():
        start = time.perf_counter()
        jobs = snakemake(work, [ROOT / "config" / "config.yaml", work / "cohort.yaml", cpu, extra], a.cores)
        report = work / "results" / "real" / "report"
        summary, pairs = (pd.read_csv(report / f, sep="\t") for f in ("summary.tsv", "per_subject.tsv"))
        result[run] = {"jobs_run": jobs, "wall_seconds": time.perf_counter() - start,
                       **{k: t.astype(object).where(t.notna(), None).to_dict(orient="records")
                          for k, t in (("summary", summary), ("per_subject", pairs))}}
        print(run, jobs, "\n", summary.to_string(), flush=True)
    Path(a.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
