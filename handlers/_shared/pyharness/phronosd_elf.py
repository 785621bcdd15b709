"""Just enough of ELF (64-bit, little-endian: x86-64, aarch64) to check a linked test binary before it
runs: its sections, symbols, dynamic entries, relocations and the pointers a pointer array (such as
`.preinit_array`) holds once loaded. The C++ and Rust harnesses read binaries with it; what a binary
may not hold is each harness's own policy."""

import struct
from dataclasses import dataclass

SHT_SYMTAB, SHT_RELA, SHT_DYNAMIC, SHT_DYNSYM, SHT_PREINIT_ARRAY = 2, 4, 6, 11, 16
SHF_ALLOC = 0x2
SHN_UNDEF = 0
STB_LOCAL = 0
STT_NOTYPE, STT_FUNC, STT_SECTION, STT_FILE, STT_GNU_IFUNC = 0, 2, 3, 4, 10
DT_NULL, DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ = 0, 32, 33
EM_X86_64, EM_AARCH64 = 62, 183
RELATIVE = {EM_X86_64: 8, EM_AARCH64: 1027}  # R_X86_64_RELATIVE, R_AARCH64_RELATIVE
IRELATIVE = {EM_X86_64: 37, EM_AARCH64: 1032}  # R_X86_64_IRELATIVE, R_AARCH64_IRELATIVE
POINTER_SIZE = 8


class ElfError(ValueError):
    pass


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int


@dataclass(frozen=True)
class Symbol:
    name: str  # a version suffix (`@GLIBC_2.17`) cut off
    value: int
    defined: bool
    kind: int
    binding: int

    @property
    def is_code(self):
        return self.kind in (STT_NOTYPE, STT_FUNC, STT_GNU_IFUNC)

    @property
    def is_global(self):
        """Seen outside its object file: a local definition replaces nothing."""
        return self.binding != STB_LOCAL


class Elf:
    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4:6] != b"\x02\x01":
            raise ElfError("not a 64-bit little-endian ELF file")
        self.data = data
        try:
            (self.machine,) = struct.unpack_from("<H", data, 0x12)
            self.sections = self.read_sections()
        except (struct.error, IndexError, ValueError) as exc:
            raise ElfError(f"malformed section headers ({exc})") from exc

    @classmethod
    def read(cls, path):
        with open(path, "rb") as handle:
            return cls(handle.read())

    def read_sections(self):
        (table,) = struct.unpack_from("<Q", self.data, 0x28)
        entry_size, count, names_index = struct.unpack_from("<HHH", self.data, 0x3A)
        headers = [struct.unpack_from("<IIQQQQIIQQ", self.data, table + i * entry_size) for i in range(count)]
        names_offset = headers[names_index][4]
        return [
            Section(self.string(names_offset + name), kind, flags, addr, offset, size, link)
            for name, kind, flags, addr, offset, size, link, _info, _align, _entsize in headers
        ]

    def string(self, offset):
        """The NUL-terminated string at `offset` (of a string table)."""
        return self.data[offset : self.data.index(b"\0", offset)].decode("utf-8", "replace")

    def section(self, name):
        return next((s for s in self.sections if s.name == name), None)

    def of_type(self, *kinds):
        return [s for s in self.sections if s.type in kinds]

    def entries(self, section, layout):
        size = struct.calcsize(layout)
        return struct.iter_unpack(
            layout, self.data[section.offset : section.offset + section.size - section.size % size]
        )

    def symbols(self, *kinds):
        """The symbols of the tables of these types (default: the static table, `.symtab`), section
        and file names left out."""
        found = []
        for table in self.of_type(*(kinds or (SHT_SYMTAB,))):
            names = self.sections[table.link].offset
            found.extend(
                Symbol(self.string(names + name).split("@", 1)[0], value, shndx != SHN_UNDEF, info & 0xF, info >> 4)
                for name, info, _other, shndx, value, _size in self.entries(table, "<IBBHQQ")
                if info & 0xF not in (STT_SECTION, STT_FILE)
            )
        return found

    def dynamic_entries(self):
        """(tag, value) of the dynamic sections, each up to its DT_NULL (the loader reads no further)."""
        found = []
        for section in self.of_type(SHT_DYNAMIC):
            for tag, value in self.entries(section, "<qQ"):
                if tag == DT_NULL:
                    break
                found.append((tag, value))
        return found

    def dynamic(self):
        """{tag: value} of the dynamic entries as the loader keeps them: the last of a tag wins (empty for
        a static executable)."""
        return dict(self.dynamic_entries())

    def relocations(self, loaded_only=False):
        """(offset, type, symbol index, addend) of every relocation with an addend; `loaded_only`: of
        the tables the loader applies (allocated), not those a link kept (`--emit-relocs`)."""
        for table in self.of_type(SHT_RELA):
            if not loaded_only or table.flags & SHF_ALLOC:
                for offset, info, addend in self.entries(table, "<QQq"):
                    yield offset, info & 0xFFFFFFFF, info >> 32, addend

    def has_indirect_functions(self):
        """Whether the file defines GNU indirect functions (IFUNC): their resolvers run while the loader
        relocates the program, before any of its initialisers (`.preinit_array` included)."""
        irelative = IRELATIVE.get(self.machine)
        return any(kind == irelative for _, kind, _, _ in self.relocations()) or any(
            s.defined and s.kind == STT_GNU_IFUNC for s in self.symbols(SHT_SYMTAB, SHT_DYNSYM)
        )

    def pointers(self, section):
        """The addresses a pointer array holds once loaded: the addend of a relative relocation at each
        slot (position-independent executables), None where another relocation sets it, else the value
        stored in the file."""
        relative = RELATIVE.get(self.machine)
        addends = {
            offset: addend if kind == relative and symbol == 0 else None
            for offset, kind, symbol, addend in self.relocations(loaded_only=True)
        }
        slots = range(section.addr, section.addr + section.size, POINTER_SIZE)
        stored = struct.unpack_from(f"<{len(slots)}Q", self.data, section.offset) if slots else ()
        return [addends.get(slot, value) for slot, value in zip(slots, stored)]
