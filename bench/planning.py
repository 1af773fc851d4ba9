"""Time Snakemake's planning (a dry run) of cohorts of synthetic subjects, and count the SLURM jobs.

    python bench/planning.py --subjects 1000 10000 --out bench/results/planning.json

For each size: a subject sheet of N subjects (every ``--labelled-every``-th with a label map), empty
image files (planning reads names and times, not images), the project's ``config/config.yaml`` and
the ``slurm`` profile's job groups. Reports the wall time and peak memory (of the Snakemake process) of
two dry runs: ``snakemake -n --quiet`` (``plan_s``: building the job graph, what a run does before its
first submission; the median of ``--repeats`` runs, each in ``plan_runs_s``) and ``snakemake -n``
(``dry_run_s``: the graph, plus simulating the run and printing every job), the jobs per rule, and the
SLURM jobs the run would submit (a group job is one ``sbatch``; jobs of local rules are run by Snakemake
itself). The plan is the one of a first run, before any input check has been written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCAL_RULES = {"all", "split", "dataset_report", "bids_derivatives"}
GPU_RULES = {"train", "register"}


def write_cohort(wd: Path, n: int, labelled_every: int) -> None:
    """A cohort of ``n`` subjects in ``wd``: empty images and labels, the sheet, the template and the config."""
    (wd / "data").mkdir(parents=True)
    rows = ["dataset\tsubject\timage\tlabels"]
    for i in range(n):
        image = wd / "data" / f"sub-{i:05d}_T1w.nii.gz"
        image.touch()
        labels = ""
        if i % labelled_every == 0:
            labels = str(wd / "data" / f"sub-{i:05d}_dseg.nii.gz")
            Path(labels).touch()
        rows.append(f"cohort\tsub-{i:05d}\t{image}\t{labels}")
    (wd / "subjects.tsv").write_text("\n".join(rows) + "\n")
    template = {k: str(wd / f"tpl_{k}.nii.gz") for k in ("head", "brain_mask", "labels")}
    for path in template.values():
        Path(path).touch()
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg.update(subjects=str(wd / "subjects.tsv"), template=template)
    (wd / "config").mkdir()
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))


def dry_run(wd: Path, quiet: bool = False) -> tuple[float, float, str]:
    """Wall seconds, peak resident MiB and output of ``snakemake -n --profile slurm`` (``--quiet``) on ``wd``."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--profile", "slurm", "--directory", str(wd)] + ["--quiet"] * quiet
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"dry run failed on {wd}:\n{out[-4000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def submissions(out: str) -> Counter:
    """SLURM jobs of a dry run's printout: one per group job (by group) and per ungrouped, non-local job (by rule)."""
    jobs = Counter(f"group {g}" for g in re.findall(r"Group job (\S+)", out))
    jobs.update(r for r in re.findall(r"^(?:rule|checkpoint) (\w+):", out, flags=re.M) if r not in LOCAL_RULES)
    return jobs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subjects", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--labelled-every", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3, help="runs of the job graph per size (its time is noisy)")
    p.add_argument("--out", default="bench/results/planning.json")
    a = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.subjects:
            wd = Path(tmp) / f"cohort{n}"
            write_cohort(wd, n, a.labelled_every)
            plans = [dry_run(wd, quiet=True)[:2] for _ in range(a.repeats)]
            plan_s = statistics.median(s for s, _ in plans)
            plan_mib = max(mib for _, mib in plans)
            seconds, peak_mib, out = dry_run(wd)
            rules = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1].split("Reasons:")[0], flags=re.M))
            slurm = submissions(out)
            results.append({"subjects": n, "labelled": len(range(0, n, a.labelled_every)),
                            "plan_s": round(plan_s, 2), "plan_runs_s": [round(s, 2) for s, _ in plans],
                            "plan_peak_rss_mib": round(plan_mib),
                            "dry_run_s": round(seconds, 2), "seconds_per_1000_subjects": round(1000 * seconds / n, 2),
                            "peak_rss_mib": round(peak_mib), "jobs": int(rules.pop("total")),
                            "jobs_by_rule": {k: int(v) for k, v in rules.items()},
                            "slurm_jobs": sum(slurm.values()),
                            "slurm_jobs_cpu_stages": sum(v for k, v in slurm.items() if k not in GPU_RULES),
                            "slurm_jobs_by_kind": dict(slurm)})
            print(json.dumps(results[-1]), flush=True)
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "profile": "slurm", "config": "config/config.yaml"}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
