"""C++: g++ 14 and GoogleTest, with phronosd's own main (a reporting and timing gtest listener)."""

import re
from pathlib import PurePosixPath

from phronosd.languages import Language, Submission

SOURCE_SUFFIXES = (".cpp", ".cc", ".cxx", ".c++")
LOCAL_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.MULTILINE)


def local_includes(source: str) -> list[str]:
    return LOCAL_INCLUDE.findall(source)


def resolved(includer: str, name: str) -> str:
    """The work-dir path a quoted include names: beside the includer (the include path is /work too)."""
    return str(PurePosixPath(includer).parent / name)


def included_files(files: dict[str, str]) -> set[str]:
    names = set()
    for path, content in files.items():
        for name in local_includes(content):
            names.update({resolved(path, name), str(PurePosixPath(name))})
    return names


def translation_units(files: dict[str, str], solution_file: str, test_file: str) -> list[list[str]]:
    """Every C++ source nobody #includes is compiled; tests that include nothing local get the
    solution in front of them in one translation unit (the solution then needs no header)."""
    included = included_files(files)
    sources = [f for f in files if f.endswith(SOURCE_SUFFIXES) and f not in included]
    if solution_file in sources and test_file in sources and not local_includes(files[test_file]):
        sources.remove(solution_file)
        return [[solution_file, test_file] if f == test_file else [f] for f in sources]
    return [[f] for f in sources]


class Cpp(Language):
    def file_names(self, submission: Submission) -> tuple[str, str]:
        """The solution goes under the local header name the tests include when nobody provides it."""
        test_file = submission.test_file or self.test_file
        return submission.solution_file or self.header_the_tests_need(submission, test_file), test_file

    def options(self, files, solution_file: str, test_file: str) -> dict[str, object]:
        return {"units": translation_units(dict(files), solution_file, test_file)}

    def header_the_tests_need(self, submission: Submission, test_file: str) -> str:
        provided = {str(PurePosixPath(name)) for name, _ in submission.files}
        for name in local_includes(submission.tests):
            if resolved(test_file, name) not in provided and name not in provided and name != test_file:
                return resolved(test_file, name)
        return self.solution_file


HANDLER = Cpp(
    name="cpp",
    aliases=("c++", "cxx", "gtest"),
    runtime="g++",
    framework="GoogleTest",
    version_packages={"runtime": "g++-14", "framework": "libgtest-dev"},
    solution_file="solution.cpp",
    test_file="solution_test.cpp",
    default_warmup=5,
    poolable=True,
    comparable=True,
    libraries={
        "boost": "libboost1.83-dev",
        "fmt": "libfmt-dev",
        "eigen": "libeigen3-dev",
        "nlohmann-json": "nlohmann-json3-dev",
    },
    conventions=(
        "The solution is saved as solution.cpp and the tests as solution_test.cpp. When the tests "
        '#include "X" for a local file nobody provided, the solution is saved as X (header style) and '
        "not compiled on its own; when the tests include nothing local, the solution is compiled in "
        "front of them in one translation unit. Every other .cpp/.cc file in `files` is compiled and "
        "linked too; headers in `files` are on the include path. Compiled with g++ -std=c++20 -O2 "
        "against GoogleTest (gtest/gtest.h is precompiled and included first). The libraries listed are "
        "installed: Boost's headers, fmt (linked when used), Eigen (<Eigen/Dense>) and nlohmann/json.hpp. "
        "phronosd provides "
        "main(); a main() in the tests is ignored. TEST, TEST_F, each TEST_P instance and each typed "
        "test instance count once; DISABLED_ tests are skipped. Measurement times each test that passed "
        "from its start to its end, so a fixture's SetUp and TearDown are inside the timed span. Refused "
        "as compile_error: code that would run before phronosd's start-up code (a .preinit_array entry, "
        "an ifunc or target_clones) and definitions of clock_gettime, gettimeofday, "
        "std::chrono::steady_clock::now or syscall."
    ),
)
