import numpy as np
from solution import rises, sliding_medians, steepest_rise


def test_sliding_medians():
    assert sliding_medians([5, 1, 4, 2, 3], 3) == [4, 2, 3]


def test_sliding_medians_even_window():
    assert sliding_medians([1, 3, 5, 7], 2) == [2, 4, 6]


def test_steepest_rise():
    assert steepest_rise([3, 1, 8, 9, 2]) == 7


def test_rises_agree_with_numpy():
    values = [3, 1, 8, 9, 2]
    assert rises(values) == np.diff(values).tolist()
