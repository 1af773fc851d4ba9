import numpy as np

from dccnnreg.synth import SKULL, head_contrast, t1_from_labels


def test_t1_from_labels_orders_tissues_like_a_t1_scan():
    labels = np.zeros((24, 24, 24), np.int32)
    labels[2:8], labels[8:14], labels[14:20], labels[20:22] = 2, 3, 4, 530  # white matter, cortex, ventricle, scalp
    for seed in range(3):
        image = t1_from_labels(labels, np.random.default_rng(seed))
        mean = {k: image[4:20, 4:20][labels[4:20, 4:20] == k].mean() for k in (2, 3, 4)}
        assert image.dtype == np.float32 and image.shape == labels.shape
        assert mean[2] > mean[3] + 0.2 > mean[4] + 0.4
        assert image[23].mean() < 0.05  # background: noise only


def test_a_cohort_contrast_gives_every_head_the_same_tissue_intensities():
    labels = np.zeros((24, 24, 24), np.int32)
    labels[2:8], labels[8:14], labels[14:20], labels[20:22] = 2, 515, 507, 511  # white matter, skull, soft tissue, scalp
    contrast = head_contrast(np.random.default_rng(0))
    assert 0.05 <= contrast[SKULL] <= 0.3
    means = np.array([[t1_from_labels(labels, np.random.default_rng(seed), contrast=contrast)[4:20, 4:20][
        labels[4:20, 4:20] == k].mean() for k in (515, 507)] for seed in range(3)])
    assert np.allclose(means, contrast[[515, 507]], atol=0.12)  # jitter, blur and bias field only
    other = t1_from_labels(labels, np.random.default_rng(0), contrast=head_contrast(np.random.default_rng(1)))
    assert abs(other[labels == 507].mean() - means[0, 1]) > 0.05 or abs(other[labels == 515].mean() - means[0, 0]) > 0.05
