from solution import spin


def test_single():
    assert spin(ITERATIONS) >= 0


def test_batch():
    for _ in range(BATCH):
        assert spin(ITERATIONS) >= 0
