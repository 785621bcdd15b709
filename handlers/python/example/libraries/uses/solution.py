import numpy as np
from more_itertools import pairwise
from sortedcontainers import SortedList


def sliding_medians(values, k):
    """The median of every window of k values, kept in a sorted list as the window slides."""
    window = SortedList(values[:k])
    medians = [median(window)]
    for leaving, entering in zip(values, values[k:]):
        window.remove(leaving)
        window.add(entering)
        medians.append(median(window))
    return medians


def median(window):
    middle = len(window) // 2
    return window[middle] if len(window) % 2 else (window[middle - 1] + window[middle]) / 2


def steepest_rise(values):
    """The largest step between neighbours, found with numpy."""
    return int(np.max(np.diff(np.asarray(values)))) if len(values) > 1 else 0


def rises(values):
    return [b - a for a, b in pairwise(values)]
