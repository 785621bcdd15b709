def spin(n):
    """A fixed CPU loop: n steps of a linear congruential generator."""
    x = 0
    for i in range(n):
        x = (x * 1103515245 + i) & 0x7FFFFFFF
    return x
