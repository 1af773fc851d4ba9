"""neurite-oasis seg35 maps renumbered to FreeSurfer aseg, checked against a real aseg on the same grid (the real
inter-subject pair of ../shared/data/ needs it; the data test skips without that folder)."""

import nibabel as nib
import numpy as np
import pytest

from dccnnreg.labels import SEG35_TO_ASEG, aseg_from_seg35
from dccnnreg.metrics import dice_per_label
from dccnnreg.nifti import InputError
from tiny_study import ROOT

DATA = ROOT.parent / "shared" / "data"


def test_renumbering_keeps_background_shape_and_distinct_structures():
    seg35 = np.arange(36, dtype=np.uint8).reshape(3, 3, 4)
    aseg = aseg_from_seg35(seg35)
    assert aseg.shape == seg35.shape and aseg.dtype == np.int32
    assert aseg[0, 0, 0] == 0 and (aseg.ravel()[1:] > 0).all()
    assert len(np.unique(aseg)) == 36  # no two structures merged


@pytest.mark.parametrize("bad", [36, -1])
def test_labels_outside_seg35_are_refused(bad):
    with pytest.raises(InputError, match="0..35"):
        aseg_from_seg35(np.array([[[0, bad]]]))


@pytest.mark.skipif(not (DATA / "oasis_aligned").is_dir() or not (DATA / "real_brain").is_dir(),
                    reason=f"{DATA}/oasis_aligned or real_brain is absent (real OASIS brains, see shared/README)")
def test_each_renumbered_structure_overlaps_its_namesake_best():
    """Two people's brains, affinely aligned on one grid: every scored structure of subject A, renumbered, has its
    highest Dice with the same structure of the other brain's aseg, among all 29 (a slip in the table, a left-right
    exchange or two neighbours swapped, makes some structure match another one better)."""
    aseg = np.load(DATA / "real_brain" / "oasis_subject_vol_seg.npz")["seg"][::2, ::2, ::2]
    scored = [int(x) for x in np.load(DATA / "real_brain" / "eval_labels.npz")["labels"] if x != 24]  # seg35: no CSF
    mapped = aseg_from_seg35(np.asarray(nib.load(DATA / "oasis_aligned" / "subjA_seg35.nii.gz").dataobj)[::2, ::2, ::2])
    assert set(scored) <= set(SEG35_TO_ASEG.values())
    for k in scored:
        dice = {other: dice_per_label(np.where(mapped == k, other, 0), aseg, [other])[other] for other in scored}
        assert max(dice, key=dice.get) == k, (k, dice)
