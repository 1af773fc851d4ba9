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
LEFT_RIGHT = {2: 41, 3: 42, 4: 43, 5: 44, 7: 46, 8: 47, 10: 49, 11: 50, 12: 51, 13: 52, 17: 53, 18: 54, 26: 58,
              28: 60, 30: 62, 31: 63}


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
def test_renumbered_subject_a_overlaps_the_real_brains_aseg_structure_by_structure():
    """Two people's brains, affinely aligned on one grid: each renumbered structure overlaps its namesake, and
    better than with left and right exchanged (the likeliest slip in a renumbering table)."""
    aseg = np.load(DATA / "real_brain" / "oasis_subject_vol_seg.npz")["seg"][::2, ::2, ::2]
    scored = [int(x) for x in np.load(DATA / "real_brain" / "eval_labels.npz")["labels"] if x != 24]  # seg35: no CSF
    seg35 = np.asarray(nib.load(DATA / "oasis_aligned" / "subjA_seg35.nii.gz").dataobj)[::2, ::2, ::2]
    mapped = aseg_from_seg35(seg35)
    assert set(scored) <= set(SEG35_TO_ASEG.values())
    dice = dice_per_label(mapped, aseg, scored)
    swap = {**LEFT_RIGHT, **{v: k for k, v in LEFT_RIGHT.items()}}
    swapped = dice_per_label(np.vectorize(lambda k: swap.get(int(k), int(k)))(mapped), aseg, scored)
    assert min(dice[k] for k in (2, 3, 8, 10, 16, 41, 42, 47, 49)) > 0.45, dice  # white matter, cortex, cerebellum...
    assert np.mean(list(dice.values())) > np.mean(list(swapped.values())) + 0.2, (dice, swapped)
