"""Python: pytest in-process, with a plugin that reports results and times the call phase."""

from phronosd.languages import Language

HANDLER = Language(
    name="python",
    aliases=("py", "python3"),
    runtime="CPython",
    framework="pytest",
    version_packages={"runtime": "python3", "framework": "python3-pytest"},
    solution_file="solution.py",
    test_file="test_solution.py",
    default_warmup=5,
    conventions=(
        "The solution is saved as solution.py and the tests as test_solution.py; tests import it "
        "with `from solution import ...`. Set solutionFile (e.g. fib.py) when the tests import "
        "another module name. Fixtures, parametrize and conftest.py (via files; the response's notes "
        "say it was loaded) work as in pytest. pytest.ini, pyproject.toml, tox.ini and setup.cfg are "
        "not read: pytest runs with phronosd's own configuration."
    ),
    framework_config_files=("conftest.py", "pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"),
    libraries={
        "numpy": "python3-numpy",
        "sortedcontainers": "python3-sortedcontainers",
        "more-itertools": "python3-more-itertools",
        "networkx": "python3-networkx",
    },
    poolable=True,
    comparable=True,
    # Python's processes run at speed levels 2-3 % apart: 12 find a 5 % difference in >= 95 % of
    # simulated trials at a 2 % spread, where 6 find it in 56 % (handlers/README.md: Compare jobs).
    compare_processes=12,
)
