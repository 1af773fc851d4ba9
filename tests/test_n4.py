"""N4's fitting grid follows the image's voxel size: about 4 mm, whatever the acquisition."""

import pytest

from dccnnreg.preprocess import N4_SPACING_MM, n4_shrink_factor


@pytest.mark.parametrize("spacing, shrink", [((1.0, 1.0, 1.0), 4), ((3.0, 3.0, 3.0), 2), ((0.8, 0.8, 0.8), 5),
                                             ((1.2, 1.0, 3.5), 4), ((2.0, 2.0, 2.0), 2), ((4.0, 4.0, 4.0), 1),
                                             ((6.0, 5.0, 6.0), 1)])
def test_shrink_factor_is_the_smallest_reaching_the_fitting_spacing(spacing, shrink):
    assert n4_shrink_factor(spacing) == shrink
    finest = min(spacing)
    assert shrink == 1 or (finest * shrink >= N4_SPACING_MM > finest * (shrink - 1))
