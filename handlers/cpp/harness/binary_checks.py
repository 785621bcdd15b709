"""Checks of the linked test binary before it runs: the submission must not run code before phronosd's
start-up code (which takes the results channel's token) nor replace what phronosd's code relies on.

Before the .preinit_array functions, the dynamic loader runs only the resolvers of indirect functions
(ifunc: IRELATIVE relocations), so the binary must have none and exactly one .preinit_array entry
(phronosd's). A symbol the executable defines takes the place of the C
library's everywhere (the libraries' calls included), hence the list of definitions refused. The ELF reading is the shared `phronosd_elf`'s."""

from phronosd_elf import DT_PREINIT_ARRAYSZ, POINTER_SIZE, SHT_DYNSYM, SHT_PREINIT_ARRAY, SHT_SYMTAB, Elf

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


def preinit_array_sizes(elf):
    """The sizes the loader and the linker see: DT_PREINIT_ARRAYSZ and the .preinit_array sections."""
    sizes = [value for tag, value in elf.dynamic_entries() if tag == DT_PREINIT_ARRAYSZ]
    sections = [s for s in elf.sections if s.type == SHT_PREINIT_ARRAY or s.name.startswith(".preinit_array")]
    return sizes + [sum(s.size for s in sections)]


def refused_definitions(elf):
    """The refused names the binary defines (globally: a local definition replaces nothing)."""
    defined = {s.name for s in elf.symbols(SHT_SYMTAB, SHT_DYNSYM) if s.defined and s.is_global}
    return sorted(defined & REFUSED_DEFINITIONS.keys())


def refusal(path):
    """Why the binary at `path` must not run (a message for the user), or None."""
    elf = Elf.read(path)
    if any(size != POINTER_SIZE for size in preinit_array_sizes(elf)):
        return (
            "the code adds a .preinit_array entry: it would run before phronosd's start-up code, "
            "which is not allowed (use a constructor or a global object instead)"
        )
    if elf.has_indirect_functions():
        return (
            "the code defines an indirect function (ifunc, e.g. through target_clones): its resolver would "
            "run before phronosd's start-up code, which is not allowed"
        )
    reasons = [f"{DISPLAY_NAMES.get(name, name)} ({REFUSED_DEFINITIONS[name]})" for name in refused_definitions(elf)]
    if reasons:
        return "the code defines " + "; ".join(reasons) + ", which is not allowed"
    return None
