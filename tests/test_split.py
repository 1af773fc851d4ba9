from dccnnreg.split import assign_batch, assign_split


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
