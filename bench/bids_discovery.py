"""Time BIDS discovery (dccnnreg.bids.discover + the sheet checks) on a synthetic BIDS tree.

    python bench/bids_discovery.py --subjects 5000 --out bench/results/bids_discovery.json

Each participant has a T1w (with JSON sidecar), a T2w and a resting-state BOLD run, every fourth one
two sessions, and a label map per T1w in a derivatives dataset. Files are empty: discovery reads
names only (images are read later, by the input checks).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from dccnnreg.bids import discover
from dccnnreg.cohort import finish_sheet


def write_tree(root: Path, n: int) -> int:
    """A BIDS tree of ``n`` participants; returns the number of files written."""
    labels = root / "derivatives" / "seg"
    labels.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "synthetic", "BIDSVersion": "1.10.0"}))
    (labels / "dataset_description.json").write_text(json.dumps(
        {"Name": "seg", "BIDSVersion": "1.10.0", "DatasetType": "derivative"}))
    count = 2
    for i in range(1, n + 1):
        for ses in ("1", "2") if i % 4 == 0 else ("",):
            prefix = f"sub-{i:05d}" + (f"_ses-{ses}" if ses else "")
            folder = root / f"sub-{i:05d}" / (f"ses-{ses}" if ses else "")
            (folder / "anat").mkdir(parents=True)
            (folder / "func").mkdir()
            seg = labels / folder.relative_to(root) / "anat"
            seg.mkdir(parents=True)
            (seg / f"{prefix}_desc-aseg_dseg.nii.gz").touch()
            for name in (f"anat/{prefix}_T1w.nii.gz", f"anat/{prefix}_T1w.json", f"anat/{prefix}_T2w.nii.gz",
                         f"func/{prefix}_task-rest_bold.nii.gz", f"func/{prefix}_task-rest_bold.json"):
                (folder / name).touch()
                count += 1
    return count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subjects", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--out", default="bench/results/bids_discovery.json")
    a = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.subjects:
            root = Path(tmp) / f"ds{n}"
            files = write_tree(root, n)
            t0 = time.perf_counter()
            sheet = finish_sheet(discover(root, labels={"root": root / "derivatives" / "seg"}), root,
                                 {"train": 0.6, "val": 0.2, "salt": "bench"})
            assert (sheet["labels"] != "").all()
            seconds = time.perf_counter() - t0
            results.append({"participants": n, "files": files + len(sheet), "t1w_images": len(sheet), "seconds": round(seconds, 2)})
            print(results[-1])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"machine": f"{platform.machine()}, {platform.processor() or '?'}",
                                       "library": "bids2table", "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
