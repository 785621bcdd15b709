"""Checks of the linked test binary before it runs: the submission must not run code before phronosd's
start-up code (which takes the results channel's token) nor replace what phronosd's code relies on.

Reads just enough of ELF64 (little-endian: x86-64, aarch64): section headers, symbol tables, dynamic
entries and relocation types. Before the .preinit_array functions, the dynamic loader runs only the
resolvers of indirect functions (ifunc: IRELATIVE relocations), so the binary must have none and exactly
one .preinit_array entry (phronosd's). A symbol the executable defines takes the place of the C
library's everywhere (the libraries' calls included), hence the list of definitions refused."""

import struct

SHT_SYMTAB, SHT_RELA, SHT_DYNAMIC, SHT_DYNSYM, SHT_PREINIT_ARRAY = 2, 4, 6, 11, 16
DT_PREINIT_ARRAYSZ = 33
STB_LOCAL, STT_GNU_IFUNC, SHN_UNDEF = 0, 10, 0
IRELATIVE = {62: 37, 183: 1032}  # e_machine: R_X86_64_IRELATIVE, R_AARCH64_IRELATIVE
POINTER_SIZE = 8

CLOCK = "would replace the clock phronosd times the tests with"
REFUSED_DEFINITIONS = {
    "clock_gettime": CLOCK,
    "__clock_gettime": CLOCK,
    "clock_gettime64": CLOCK,
    "__clock_gettime64": CLOCK,
    "gettimeofday": CLOCK,
    "__gettimeofday": CLOCK,
    "_ZNSt6chrono3_V212steady_clock3nowEv": CLOCK,
    "syscall": "would replace the system call entry phronosd's results channel uses",
}
DISPLAY_NAMES = {"_ZNSt6chrono3_V212steady_clock3nowEv": "std::chrono::steady_clock::now()"}


class Elf:
    """An ELF64 little-endian file's sections, symbols, dynamic entries and relocation types."""

    def __init__(self, path):
        with open(path, "rb") as handle:
            self.data = handle.read()
        if self.data[:6] != b"\x7fELF\x02\x01":
            raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
        fields = struct.unpack_from("<16sHHIQQQIHHHHHH", self.data)
        self.machine, shoff, shentsize, shnum, shstrndx = fields[2], fields[6], fields[11], fields[12], fields[13]
        headers = [struct.unpack_from("<IIQQQQIIQQ", self.data, shoff + i * shentsize) for i in range(shnum)]
        names = headers[shstrndx]
        self.sections = [
            {
                "name": self.string(names[4] + h[0]).decode("utf-8", "replace"),
                "type": h[1],
                "offset": h[4],
                "size": h[5],
                "link": h[6],
            }
            for h in headers
        ]

    def string(self, offset):
        """The NUL-terminated bytes at `offset` (of a string table)."""
        return self.data[offset : self.data.index(b"\0", offset)]

    def entries(self, section, layout):
        return struct.iter_unpack(layout, self.data[section["offset"] : section["offset"] + section["size"]])

    def of_type(self, kind):
        return [s for s in self.sections if s["type"] == kind]

    def symbols(self):
        """(offset of the name, binding, type, defined) of every symbol of .symtab and .dynsym; names
        are read with `string` only where needed (a binary has thousands of symbols)."""
        for table in self.of_type(SHT_SYMTAB) + self.of_type(SHT_DYNSYM):
            strings = self.sections[table["link"]]["offset"]
            for name, info, _other, shndx, _value, _size in self.entries(table, "<IBBHQQ"):
                yield strings + name, info >> 4, info & 0xF, shndx != SHN_UNDEF

    def dynamic(self):
        for table in self.of_type(SHT_DYNAMIC):
            yield from self.entries(table, "<qQ")

    def relocation_types(self):
        for table in self.of_type(SHT_RELA):
            for _offset, info, _addend in self.entries(table, "<QQq"):
                yield info & 0xFFFFFFFF


def preinit_array_sizes(elf):
    """The sizes the loader and the linker see: DT_PREINIT_ARRAYSZ and the .preinit_array sections."""
    sizes = [value for tag, value in elf.dynamic() if tag == DT_PREINIT_ARRAYSZ]
    sections = [s for s in elf.sections if s["type"] == SHT_PREINIT_ARRAY or s["name"].startswith(".preinit_array")]
    return sizes + [sum(s["size"] for s in sections)]


def has_ifunc(elf):
    irelative = IRELATIVE.get(elf.machine)
    return any(kind == irelative for kind in elf.relocation_types()) or any(
        kind == STT_GNU_IFUNC and defined for _name, _binding, kind, defined in elf.symbols()
    )


def refused_definitions(elf):
    """The refused names the binary defines (globally: a local definition replaces nothing)."""
    refused = {name.encode(): name for name in REFUSED_DEFINITIONS}
    found = set()
    for name, binding, _kind, defined in elf.symbols():
        if defined and binding != STB_LOCAL:
            plain = elf.string(name).split(b"@")[0]
            if plain in refused:
                found.add(refused[plain])
    return sorted(found)


def refusal(path):
    """Why the binary at `path` must not run (a message for the user), or None."""
    elf = Elf(path)
    if any(size != POINTER_SIZE for size in preinit_array_sizes(elf)):
        return (
            "the code adds a .preinit_array entry: it would run before phronosd's start-up code, "
            "which is not allowed (use a constructor or a global object instead)"
        )
    if has_ifunc(elf):
        return (
            "the code defines an indirect function (ifunc, e.g. through target_clones): its resolver would "
            "run before phronosd's start-up code, which is not allowed"
        )
    reasons = [f"{DISPLAY_NAMES.get(name, name)} ({REFUSED_DEFINITIONS[name]})" for name in refused_definitions(elf)]
    if reasons:
        return "the code defines " + "; ".join(reasons) + ", which is not allowed"
    return None
