import numpy as np

from dccnnreg.synth import t1_from_labels


def test_t1_from_labels_orders_tissues_like_a_t1_scan():
    labels = np.zeros((24, 24, 24), np.int32)
    labels[2:8], labels[8:14], labels[14:20], labels[20:22] = 2, 3, 4, 530  # white matter, cortex, ventricle, scalp
    for seed in range(3):
        image = t1_from_labels(labels, np.random.default_rng(seed))
        mean = {k: image[4:20, 4:20][labels[4:20, 4:20] == k].mean() for k in (2, 3, 4)}
        assert image.dtype == np.float32 and image.shape == labels.shape
        assert mean[2] > mean[3] + 0.2 > mean[4] + 0.4
        assert image[23].mean() < 0.05  # background: noise only
