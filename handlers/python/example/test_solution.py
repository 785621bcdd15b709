from solution import fib


def test_zero():
    assert fib(0) == 0


def test_one():
    assert fib(1) == 1


def test_two():
    assert fib(2) == 1


def test_ten():
    assert fib(10) == 55


def test_twenty():
    assert fib(20) == 6765


def test_large():
    assert fib(90) == 2880067194370816120


def test_sequence():
    assert [fib(n) for n in range(8)] == [0, 1, 1, 2, 3, 5, 8, 13]
