"""A growing cohort: existing subjects keep their split and batch; new ones rerun only what depends on them."""

import pandas as pd
import yaml

from dccnnreg.cohort import read_sheet
from dccnnreg.split import assign_batch, assign_split
from tiny_study import PARTICIPANTS, copy_study, mtimes, planned, rewritten, smk, write_demo_data


def test_split_is_stable_under_growth_and_follows_fractions():
    ids = [f"sub-{i:04d}" for i in range(2000)]
    first = {s: assign_split("ds", s, 0.6, 0.2, "salt") for s in ids[:500]}
    grown = {s: assign_split("ds", s, 0.6, 0.2, "salt") for s in ids}
    assert all(grown[s] == first[s] for s in first)
    frac = sum(v == "train" for v in grown.values()) / len(grown)
    assert 0.55 < frac < 0.65
    assert {"train", "val", "test"} == set(grown.values())


def test_split_depends_on_salt_and_dataset():
    a = [assign_split("ds", f"s{i}", 0.5, 0.0, "a") for i in range(200)]
    b = [assign_split("ds", f"s{i}", 0.5, 0.0, "b") for i in range(200)]
    c = [assign_split("other", f"s{i}", 0.5, 0.0, "a") for i in range(200)]
    assert a != b and a != c


def test_batches_are_stable_under_growth_and_all_used():
    ids = [f"sub-{i:04d}" for i in range(400)]
    first = {s: assign_batch("ds", s, 8) for s in ids[:100]}
    grown = {s: assign_batch("ds", s, 8) for s in ids}
    assert all(grown[s] == first[s] for s in first)
    assert set(grown.values()) == set(range(8))
    assert {assign_batch("ds", s, 1) for s in ids} == {0}


def test_existing_subjects_keep_their_split_when_the_sheet_grows(tmp_path):
    split = {"train": 0.6, "val": 0.2, "salt": "s"}
    rows = ["dataset\tsubject\timage"] + [f"A\tsub-{i:03d}\tx.nii" for i in range(300)]
    (tmp_path / "small.tsv").write_text("\n".join(rows[:101]) + "\n")
    (tmp_path / "grown.tsv").write_text("\n".join(rows) + "\n")
    small, grown = (read_sheet(tmp_path / f, split) for f in ("small.tsv", "grown.tsv"))
    assert (grown.loc[small.index, "split"] == small["split"]).all()


def test_a_new_test_subject_reruns_only_its_own_stages(study, tmp_path):
    wd = copy_study(study, tmp_path / "grown")
    write_demo_data(wd, 6.0, {**PARTICIPANTS, "09": ("test", 0)})  # a new participant in the BIDS dataset
    before = mtimes(wd)
    smk(wd)
    new = rewritten(before, mtimes(wd))
    batches = yaml.safe_load((wd / "config/config.yaml").read_text())["register"]["batches"]
    batch = f"batch-{assign_batch('demo', 'sub-09', batches):03d}"
    for method in ("dccnn_lstm", "voxelmorph"):  # per learned method, only the batch sub-09 hashes into
        assert {p.split("/")[3] for p in new if p.startswith(f"results/demo/{method}/batch-")} == {batch}
        assert not {p for p in new if p.startswith(f"results/demo/{method}/model/")}  # no training
    assert not {p for p in new if p.startswith("results/atlas/")}
    assert not {p for p in new if p.startswith(("results/demo/preproc/", "results/demo/syn/")) and "sub-09" not in p}
    evaluated = {p for p in new if p.startswith("results/demo/eval/")}  # per method, only sub-09's batch
    assert evaluated == {f"results/demo/eval/{m}/{batch}_{kind}" for m in ("affine", "syn", "voxelmorph", "dccnn_lstm")
                         for kind in ("structures.tsv", "summary.tsv")}
    for m in ("affine", "dccnn_lstm"):
        scored = pd.read_csv(wd / f"results/demo/eval/{m}/{batch}_summary.tsv", sep="\t", dtype={"subject": str})
        assert "sub-09" in set(scored["subject"]) and set(scored["method"]) == {m}
    assert (wd / "derivatives/dccnnreg/sub-09/anat").is_dir()
    assert planned(wd) == {}
