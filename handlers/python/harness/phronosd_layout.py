"""A fresh heap layout for every timed run of a compare job.

A Python process keeps the addresses its hot objects get for its whole life, and those addresses
set its speed. Twelve processes of the very same loop (Python 3.13, pytest imported), interleaved
on one core, ran at levels 3 to 12 % apart (standard deviation), each process at its own level for
its whole life (its first and second halves agreed, correlation 0.98 to 1.0); with address
randomisation switched off (`setarch -R`, Python 3.11) they were 0.1 to 0.3 % apart. A process's
level is its layout, drawn once at start, not its code's speed.

`shaken_heap` holds a random number of blocks of every size class of CPython's small-object
allocator (16 to 512 bytes, up to one pool of each) and one block of random size from the C
allocator, through one timed run: what the timed code allocates lands somewhere new in every run,
so the layout varies from run to run and averages out over a process's runs instead of setting its
level (the idea of Stabilizer, Curtsinger and Berger, ASPLOS 2013). The same twelve processes then
differed by 1.3 to 1.7 %. The draws come from `os.urandom`, bound here before any submitted code is
loaded. It costs about 0.3 to 0.6 ms per run, untimed (page faults, mostly).
"""

from itertools import repeat, starmap
from os import urandom

SIZE_CLASSES = 32  # CPython's small-object size classes: multiples of 16 bytes up to 512
POOL_BYTES = 16384  # one pool of a size class (CPython 3.10 and later, 64-bit)
BYTES_HEADER = 33  # a bytes object of length n takes 33 + n bytes
BIG_INT = 1 << 40  # ints from here on take two digits, 32 bytes, and are never cached


def blocks(size, count):
    """`count` new objects of `size` bytes (a multiple of 16), each filling one block of its class."""
    if size == 16:
        return list(starmap(object, repeat((), count)))
    if size == 32:
        return list(range(BIG_INT, BIG_INT + count))
    return list(map(bytes, repeat(size - BYTES_HEADER, count)))


def shaken_heap():
    """Objects to hold through one timed run (and drop after it): random counts in every size class."""
    held = []
    for index, draw in enumerate(urandom(SIZE_CLASSES)):
        size = 16 * (index + 1)
        held.append(blocks(size, draw * (POOL_BYTES // size) // 256))
    held.append(bytes(int.from_bytes(urandom(2), "little")))  # up to 64 KiB from malloc
    return held
