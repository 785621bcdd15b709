"""Just enough of ELF (64-bit, little-endian) to check a linked test binary: its sections, symbols,
dynamic entries and the pointers its `.preinit_array` holds."""

import struct
from dataclasses import dataclass

SHN_UNDEF = 0
STT_NOTYPE, STT_FUNC, STT_SECTION, STT_FILE, STT_GNU_IFUNC = 0, 2, 3, 4, 10
DT_NULL, DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ = 0, 32, 33
RELATIVE_RELOCATIONS = {8, 1027}  # R_X86_64_RELATIVE, R_AARCH64_RELATIVE
IRELATIVE_RELOCATIONS = {37, 1032}  # R_X86_64_IRELATIVE, R_AARCH64_IRELATIVE
RELOCATION_TABLES = (".rela.dyn", ".rela.plt")


class ElfError(ValueError):
    pass


@dataclass
class Section:
    name: str
    type: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass
class Symbol:
    name: str
    value: int
    defined: bool
    kind: int

    @property
    def is_code(self):
        return self.kind in (STT_NOTYPE, STT_FUNC, STT_GNU_IFUNC)


class Elf:
    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4:6] != b"\x02\x01":
            raise ElfError("not a 64-bit little-endian ELF file")
        self.data = data
        try:
            self.sections = self.read_sections()
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise ElfError(f"malformed section headers ({exc})") from exc

    def read_sections(self):
        (table,) = struct.unpack_from("<Q", self.data, 0x28)
        entry_size, count, names_index = struct.unpack_from("<HHH", self.data, 0x3A)
        headers = [struct.unpack_from("<IIQQQQIIQQ", self.data, table + i * entry_size) for i in range(count)]
        names_offset = headers[names_index][4]
        return [
            Section(self.string(names_offset + name), kind, addr, offset, size, link, entsize)
            for name, kind, _flags, addr, offset, size, link, _info, _align, entsize in headers
        ]

    def string(self, offset):
        return self.data[offset : self.data.index(b"\0", offset)].decode("utf-8", "replace")

    def section(self, name):
        return next((s for s in self.sections if s.name == name), None)

    def entries(self, section, layout):
        size = struct.calcsize(layout)
        return struct.iter_unpack(
            layout, self.data[section.offset : section.offset + section.size - section.size % size]
        )

    def symbols(self, table=".symtab"):
        """The table's symbols (sections and file names left out), a version suffix cut from the name."""
        section = self.section(table)
        if section is None:
            return []
        names = self.sections[section.link].offset
        return [
            Symbol(self.string(names + name).split("@", 1)[0], value, shndx != SHN_UNDEF, info & 0xF)
            for name, info, _other, shndx, value, _size in self.entries(section, "<IBBHQQ")
            if info & 0xF not in (STT_SECTION, STT_FILE)
        ]

    def dynamic(self):
        """{tag: value} of the dynamic section (empty for a static executable)."""
        section = self.section(".dynamic")
        if section is None:
            return {}
        found = {}
        for tag, value in self.entries(section, "<qQ"):
            if tag == DT_NULL:
                break
            found.setdefault(tag, value)
        return found

    def relocations(self):
        """(offset, type, symbol index, addend) of every dynamic relocation."""
        for name in RELOCATION_TABLES:
            section = self.section(name)
            if section is not None:
                for offset, info, addend in self.entries(section, "<QQq"):
                    yield offset, info & 0xFFFFFFFF, info >> 32, addend

    def indirect_functions(self):
        """Whether the file defines GNU indirect functions: their resolvers run while the loader
        relocates the program, before any of its initialisers."""
        return any(kind in IRELATIVE_RELOCATIONS for _, kind, _, _ in self.relocations()) or any(
            s.defined and s.kind == STT_GNU_IFUNC for s in self.symbols()
        )

    def pointers(self, section):
        """The addresses a pointer array holds once loaded: the addend of a relative relocation at each
        slot (position-independent executables), else the value stored in the file."""
        addends = {
            offset: addend if kind in RELATIVE_RELOCATIONS and symbol == 0 else None
            for offset, kind, symbol, addend in self.relocations()
        }
        slots = range(section.addr, section.addr + section.size, 8)
        stored = struct.unpack_from(f"<{len(slots)}Q", self.data, section.offset) if slots else ()
        return [addends.get(slot, value) for slot, value in zip(slots, stored)]
