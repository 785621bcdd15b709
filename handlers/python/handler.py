"""Python: pytest in-process, with a plugin that reports results and times the call phase."""

from phronosd.languages import Language

HANDLER = Language(
    name="python",
    aliases=("py", "python3"),
    runtime="CPython 3.13 (Debian trixie)",
    framework="pytest 8.3",
    solution_file="solution.py",
    test_file="test_solution.py",
    default_warmup=5,
    conventions=(
        "The solution is saved as solution.py and the tests as test_solution.py; tests import it "
        "with `from solution import ...`. Set solutionFile (e.g. fib.py) when the tests import "
        "another module name. Fixtures, parametrize and conftest.py (via files) work as in pytest."
    ),
)
