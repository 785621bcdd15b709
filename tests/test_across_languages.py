"""The behaviours every language shares, one table for all of them: the language lists come from the
registry (`Language.poolable`, `Language.comparable`) and the cases from data (`language_cases.py`,
and `handlers/<lang>/example/compare/{slower,wrong}/`), so a language that turns a flag on is tested
here with no new test code. What is special to a language stays in `tests/test_<lang>.py`.

Run one language with `-k <lang>` (`-k java` also selects javascript)."""

from __future__ import annotations

import pytest
from conftest import INSTANCE, containers_left, docker, leftover_containers
from helpers import HANDLERS, example, example_solution, pool_ready, post, run, statuses, validate
from language_cases import EXIT_ZERO, FOREVER, LEAVE_TRACES, MEMORY, NETWORK, SEE_NO_TRACES, Case
from runtimes import reads_its_cgroup, relimits_pooled_containers

from phronosd.languages import Registry
from phronosd.sandbox import INSTANCE_LABEL

REGISTRY = Registry.discover()
LANGUAGES = sorted(REGISTRY.languages)
POOLABLE = sorted(name for name, language in REGISTRY.languages.items() if language.poolable)
COMPARABLE = sorted(name for name, language in REGISTRY.languages.items() if language.comparable)
POOL_CASES = {"FOREVER": FOREVER, "MEMORY": MEMORY, "LEAVE_TRACES": LEAVE_TRACES, "SEE_NO_TRACES": SEE_NO_TRACES}
EXAMPLE_TESTS = 7  # every language's example suite has seven tests
COMPARE_RUNS = 12  # four blocks of three rounds: a process costs a validation and a warm-up
POOL_MEMORY_MB = 256  # for a case that sets no memoryMb of its own
OOM_SLACK_BYTES = 1 << 20


def said(result: dict, case: Case) -> None:
    """Assert the verdict's message and output say what the case expects them to."""
    assert case.message in (result["message"] or ""), result["message"]
    assert case.output in result["output"], result["output"][-2000:]


async def validate_case(client, language: str, case: Case, **options) -> dict:
    """Validate a case's suite against the language's example solution, with the case's request fields."""
    return await validate(client, language, example(language)[0], case.tests, **{**case.options, **options})


def counts(result: dict) -> tuple[int, int, int, int]:
    return result["testsPassed"], result["testsFailed"], result["testsSkipped"], result["totalTests"]


# ---------------------------------------------------------------------------------------------------
# The data: in this process


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_every_poolable_language_has_the_pool_cases(case):
    assert set(POOLABLE) <= set(POOL_CASES[case]), f"{case} has no row for {set(POOLABLE) - set(POOL_CASES[case])}"


def test_every_language_has_the_shared_cases():
    for table in (FOREVER, MEMORY, NETWORK):
        assert sorted(table) == LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_a_wrong_solution_and_every_comparable_one_a_slower_one(language):
    """`compare/wrong` is every language's failing suite (compare, the pool, a run with no measurement)."""
    solution_file = REGISTRY.get(language).solution_file
    cases = ("slower", "wrong") if language in COMPARABLE else ("wrong",)
    for case in cases:
        assert (HANDLERS / language / "example" / "compare" / case / solution_file).is_file(), (language, case)


# ---------------------------------------------------------------------------------------------------
# Shared shapes, in cold containers


@pytest.mark.parametrize("language", sorted(FOREVER))
async def test_an_endless_loop_times_out_and_its_container_is_removed(client, require_image, language):
    require_image(language)
    result = await validate_case(client, language, FOREVER[language])
    assert result["status"] == "timeout" and result["passed"] is False, result
    assert result["timings"]["validateMs"] < FOREVER[language].options["timeoutMs"] + 2000, result["timings"]
    assert await containers_left(client) == []


@pytest.mark.parametrize("language", sorted(MEMORY))
async def test_memory_growth_is_memory_limit(client, require_image, language):
    require_image(language)
    result = await validate_case(client, language, MEMORY[language])
    assert result["status"] == "memory_limit" and result["passed"] is False, result
    said(result, MEMORY[language])


@pytest.mark.parametrize("language", sorted(NETWORK))
async def test_the_network_is_unreachable(client, require_image, language):
    require_image(language)
    result = await validate_case(client, language, NETWORK[language])
    assert result["status"] == "passed", result["output"][-3000:]
    assert result["testsPassed"] >= 1


@pytest.mark.parametrize("language", sorted(EXIT_ZERO))
async def test_exiting_with_status_0_inside_a_test_is_not_a_pass(client, require_image, language):
    require_image(language)
    result = await validate_case(client, language, EXIT_ZERO[language])
    assert result["status"] == "runtime_error" and result["passed"] is False, result
    said(result, EXIT_ZERO[language])


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_run_of_a_failing_suite_has_no_measurement(client, require_image, language):
    require_image(language)
    result = await run(client, language, example_solution(language, "compare/wrong"), example(language)[1], runs=5)
    assert result["status"] == "failed" and result["testsFailed"] >= 1, result
    assert result["measurement"] is None and result["meanExecutionTime"] is None, result


# ---------------------------------------------------------------------------------------------------
# The warm pool (README: the warm pool; issue #15)


def pooled_names() -> list[str]:
    """Running containers of this test session's daemons (the idle pool, between requests)."""
    label = f"label={INSTANCE_LABEL}={INSTANCE}"
    return docker("ps", "--filter", label, "--filter", "status=running", "--format", "{{.Names}}").stdout.split()


@pytest.mark.parametrize("language", POOLABLE)
class TestWarmPool:
    """A pooled container's harness loads its runtime and framework before its job, then goes on
    exactly as a cold one: same verdicts, the request's limits, nothing of an earlier job."""

    @pytest.fixture
    def settings_overrides(self, language):
        return {"warm_pool": 1, "warm_pool_languages": language}

    async def test_the_example_passes_in_a_pooled_container(self, client, require_image, language):
        require_image(language)
        await pool_ready(client, language)
        solution, tests = example(language)
        result = await validate(client, language, solution, tests)
        assert result["timings"]["pooled"] is True, result["timings"]
        assert result["status"] == "passed" and result["passed"] is True, result
        assert counts(result) == (EXAMPLE_TESTS, 0, 0, EXAMPLE_TESTS)

    async def test_a_wrong_solution_gets_the_cold_verdict(self, client, cold_client, require_image, language):
        """The cold side is an app with `warm_pool = 0`: it still works, in a fresh container."""
        require_image(language)
        await pool_ready(client, language)
        wrong, tests = example_solution(language, "compare/wrong"), example(language)[1]
        pooled = await validate(client, language, wrong, tests)
        cold = await validate(cold_client, language, wrong, tests)
        assert pooled["timings"]["pooled"] is True and cold["timings"]["pooled"] is False
        assert pooled["status"] == cold["status"] == "failed", (pooled, cold)
        assert counts(pooled) == counts(cold) and counts(pooled)[1] >= 1
        assert statuses(pooled) == statuses(cold)
        assert [(t["name"], t["message"]) for t in pooled["tests"]] == [
            (t["name"], t["message"]) for t in cold["tests"]
        ]

    async def test_a_pooled_job_sees_nothing_of_the_one_before(self, client, require_image, language):
        require_image(language)
        await pool_ready(client, language)
        first = await validate_case(client, language, LEAVE_TRACES[language])
        assert first["status"] == "passed" and first["timings"]["pooled"], first
        await pool_ready(client, language)
        second = await validate_case(client, language, SEE_NO_TRACES[language])
        assert second["status"] == "passed", (second["tests"], second["output"][-3000:])
        assert second["timings"]["pooled"]

    async def test_request_limits_hold_in_pooled_containers(self, client, container_runtime, require_image, language):
        """A memoryMb other than the pool's re-limits the pooled container; a runtime that cannot do
        that (runsc) runs the request cold, under the same limit."""
        require_image(language)
        await pool_ready(client, language)
        memory_mb = MEMORY[language].options.get("memoryMb", POOL_MEMORY_MB)
        result = await validate_case(client, language, MEMORY[language], memoryMb=memory_mb)
        pooled = relimits_pooled_containers(container_runtime)
        assert result["timings"]["pooled"] is pooled and result["status"] == "memory_limit", result
        peak = result["timings"]["memoryPeakBytes"]
        if reads_its_cgroup(container_runtime):
            # A few pages over: the kernel forces the charges of a task it is killing for memory (seen: Go, 4 KiB).
            assert peak <= (memory_mb << 20) + OOM_SLACK_BYTES, result["timings"]
        else:
            assert peak is None, result["timings"]
        await pool_ready(client, language)
        result = await validate_case(client, language, FOREVER[language])
        assert result["timings"]["pooled"] and result["status"] == "timeout", result

    async def test_a_container_killed_while_idle_is_replaced_never_handed_out(self, client, require_image, language):
        require_image(language)
        await pool_ready(client, language)
        before = set(pooled_names())
        assert before, "the pool's container is not running"
        docker("kill", *before)
        solution, tests = example(language)
        result = await validate(client, language, solution, tests)
        assert result["status"] == "passed", result
        await pool_ready(client, language)
        assert not before & set(pooled_names()), "a killed container was kept"
        assert not [name for name in before if name in leftover_containers()]

    async def test_shutdown_leaves_no_container(self, client, require_image, language):
        require_image(language)
        await pool_ready(client, language)
        assert pooled_names(), "the pool's container is not running"
        await client.close()
        assert leftover_containers() == []


# ---------------------------------------------------------------------------------------------------
# Compare jobs (under runc only: a measurement, the table's slowest case; tests/runtimes.py)


@pytest.mark.parametrize("language", COMPARABLE)
async def test_compare_ranks_the_example_before_a_slower_copy_and_leaves_out_a_wrong_one(
    client, require_image, language
):
    """`compare/slower` does about twice the example's work per call or more; `compare/wrong` fails."""
    require_image(language)
    solution, tests = example(language)
    body = {
        "language": language,
        "tests": tests,
        "runs": COMPARE_RUNS,
        "solutions": [
            {"name": "example", "solution": solution},
            {"name": "slower", "solution": example_solution(language, "compare/slower")},
            {"name": "wrong", "solution": example_solution(language, "compare/wrong")},
        ],
    }
    result = await post(client, "/api/execute/compare", body)
    by_name = {entry["name"]: entry for entry in result["solutions"]}
    assert by_name["wrong"]["status"] == "failed" and by_name["wrong"]["measurement"] is None, by_name["wrong"]
    assert by_name["example"]["status"] == by_name["slower"]["status"] == "passed", by_name
    for name in ("example", "slower"):
        assert by_name[name]["measurement"]["runs"] == COMPARE_RUNS, by_name[name]
        assert by_name[name]["measurement"]["processRuns"] == [3] * 4, by_name[name]  # four processes each
        assert len(by_name[name]["measurement"]["perTest"]) == EXAMPLE_TESTS, by_name[name]
    assert result["ranking"] == ["example", "slower"]
    assert result["comparison"]["baseline"] == "example"
    [slower] = result["comparison"]["results"]
    assert slower["name"] == "slower" and slower["verdict"] == "slower", slower
    assert slower["ratio"] > 1.5, slower
    assert slower["processes"] == 4 and slower["pairs"] == COMPARE_RUNS, slower
