"""Java: javac in-process and the JUnit Platform (Jupiter, plus JUnit 4 through vintage) in one JVM."""

import re
from pathlib import PurePosixPath

from phronosd.languages import ADAPTIVE_WARMUP, Language, Submission

PUBLIC_TYPE = re.compile(
    r"^\s*public\s+(?:(?:abstract|final|sealed|non-sealed|strictfp|static)\s+)*"
    r"(?:class|interface|enum|record|@interface)\s+([A-Za-z_$][\w$]*)",
    re.MULTILINE,
)
PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*)\s*;", re.MULTILINE)
COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


def java_path(source: str, default: str) -> str:
    """Where javac expects a source: its package directory and its public top-level type's name."""
    code = COMMENTS.sub("", source)
    public = PUBLIC_TYPE.search(code)
    name = f"{public.group(1)}.java" if public else default
    package = PACKAGE.search(code)
    if package is None:
        return name
    return str(PurePosixPath(*re.sub(r"\s", "", package.group(1)).split("."), name))


class Java(Language):
    def file_names(self, submission: Submission) -> tuple[str, str]:
        """Named after their public classes, in their package directories (unless the request names them)."""
        return (
            submission.solution_file or java_path(submission.solution, self.solution_file),
            submission.test_file or java_path(submission.tests, self.test_file),
        )


HANDLER = Java(
    name="java",
    aliases=("jdk", "junit"),
    runtime="OpenJDK",
    framework="JUnit",
    version_packages={"runtime": "openjdk-21-jdk-headless", "framework": "junit5"},
    solution_file="Solution.java",
    test_file="SolutionTest.java",
    default_warmup=ADAPTIVE_WARMUP,
    libraries={
        "guava": "libguava-java",
        "commons-lang3": "libcommons-lang3-java",
        "commons-math3": "libcommons-math3-java",
        "commons-collections4": "libcommons-collections4-java",
        "gson": "libgoogle-gson-java",
    },
    poolable=True,
    comparable=True,
    conventions=(
        "The solution and the tests are two compilation units, compiled together; each file is named "
        "after its public top-level class (Solution.java and SolutionTest.java when there is none) and "
        "placed in its package's directory. Extra .java files in `files` are compiled with them. Tests "
        "use JUnit 5 Jupiter (JUnit 4 org.junit.Test also runs), AssertJ and Hamcrest. The libraries listed "
        "(Guava, Apache Commons Lang 3, Math 3 and Collections 4, Gson) are on the class path of both. "
        "Every test in the tests' top-level classes counts, each parameterized invocation, repetition and dynamic test once; "
        "a test aborted by the solution's code (an assumption) fails. Measurement times the test method "
        "only (not instance creation, @BeforeEach or @AfterEach) for Jupiter, each timed run on a fresh "
        "test instance (the same one under @TestInstance(PER_CLASS)); for JUnit 4 the span from test "
        "start to end (with instance creation and @Before/@After)."
    ),
)
