from solution import spin


def test_spin():
    for _ in range(REPEAT):
        assert spin(ITERATIONS) >= 0
