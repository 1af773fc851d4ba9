"""The tiny workflow through a real SLURM cluster with the project's `slurm` profile.

Runs when a SLURM controller answers (`.ci/slurm-cluster.sh start` makes a single-node cluster on
localhost, as `.ci/run` does); skips otherwise. Every job must have been submitted with sbatch
and ended COMPLETED in SLURM's own records, the per-subject CPU steps must have run as the profile's
group jobs (one per preprocessing batch, one per scored batch), and the GPU rules must have asked
SLURM for a GPU.
"""

import importlib.util
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from tiny_study import make_study, planned, run_snakemake


def cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and bool(re.search(r"idle|mixed|allocated", out.stdout))


pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
                       reason="snakemake-executor-plugin-slurm is not installed"),
    pytest.mark.skipif(not cluster_answers(), reason="no SLURM cluster answers (start one: .ci/slurm-cluster.sh start)"),
]

LOCAL_RULES = {"all", "split", "dataset_report", "bids_derivatives"}  # run by Snakemake itself, never submitted
# What a small CI node can grant: the profile's GPU requests stay, memory and threads shrink, a group
# job gets the node's 2 CPUs.
SMALL_NODE = ["--max-threads", "2", "--cores", "2", "--set-resources", "train:mem_mb=3000", "train:runtime=30",
              "register:mem_mb=3000", "register:runtime=30"]
GROUPS = {"preprocess": ("affine", "labels_to_grid", "skull_strip", "preprocess_qc"), "syn": ("register_syn", "evaluate")}
# The CI cluster keeps no accounting database: job states come from squeue (MinJobAge=600).
FAST_POLLING = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
                "--seconds-between-status-checks", "3"]


def slurm_job_ids() -> set[str]:
    """Every job SLURM knows: queued, running and finished within MinJobAge."""
    out = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def slurm_job(jobid: str) -> dict[str, str]:
    """``scontrol show job`` fields of one job (finished jobs stay visible for MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", jobid], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    wd = make_study(tmp_path_factory.mktemp("slurm_study"))
    cfg = yaml.safe_load((wd / "config/config.yaml").read_text())
    cfg["preprocess"]["batch_size"] = 3  # several preprocessing batches in the tiny study
    (wd / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    plan = planned(wd)
    before = slurm_job_ids()
    run_snakemake(wd, "--profile", "slurm", *SMALL_NODE, *FAST_POLLING)
    jobs = {i: slurm_job(i) for i in slurm_job_ids() - before}  # the run's jobs, from SLURM's own records
    return wd, plan, jobs


def kind(comment: str) -> str:
    """The rule of a submitted job, or the group of a group job, from its ``sbatch --comment``
    (``rule_<rule>_wildcards_...`` or ``rule_<group>_<its rules>``)."""
    name = comment.removeprefix("rule_").split("_wildcards_")[0]
    return next((g for g in GROUPS if name.startswith(f"{g}_")), name)


def test_every_job_ran_through_slurm_and_completed(slurm_run):
    wd, plan, jobs = slurm_run
    states = {i: job["JobState"] for i, job in jobs.items()}
    assert set(states.values()) == {"COMPLETED"}, states
    summary = pd.read_csv(wd / "results/demo/report/summary.tsv", sep="\t")
    assert set(summary["method"]) == {"affine", "syn", "voxelmorph", "dccnn_lstm"}
    submitted = {}
    for job in jobs.values():
        submitted[kind(job["Comment"])] = submitted.get(kind(job["Comment"]), 0) + 1
    grouped = {rule for rules in GROUPS.values() for rule in rules}
    expected = {rule: n for rule, n in plan.items() if rule not in LOCAL_RULES | grouped}
    expected["preprocess"] = plan["preprocess_qc"]  # one job per preprocessing batch, with its subjects' steps
    expected["syn"] = plan["evaluate"]  # one job per scored batch, with its SyN registrations
    assert submitted == expected
    assert 1 < plan["preprocess_qc"] < plan["affine"]


def test_group_jobs_fit_the_cores_they_ask_for(slurm_run):
    *_, jobs = slurm_run
    grouped = [job for job in jobs.values() if kind(job["Comment"]) in GROUPS]
    assert grouped and all(job["NumCPUs"] == "2" for job in grouped if kind(job["Comment"]) == "preprocess")
    assert all(int(job["NumCPUs"]) <= 2 for job in grouped)


def test_gpu_rules_hold_a_gpu_in_slurm_and_cpu_groups_none(slurm_run):
    *_, jobs = slurm_run
    gres = lambda job: job.get("TresPerJob", "") + job.get("TresPerNode", "")
    by_kind = {}
    for job in jobs.values():
        by_kind.setdefault(kind(job["Comment"]), []).append(job)
    assert len(by_kind["train"]) == 2  # dccnn_lstm and voxelmorph
    for rule in ("train", "register"):
        assert all("gpu:1" in gres(job) for job in by_kind[rule]), [gres(job) for job in by_kind[rule]]
    for group in GROUPS:
        assert by_kind[group] and not any("gpu" in gres(job) for job in by_kind[group])
