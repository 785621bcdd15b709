"""Resource figures of a measurement: the measuring process's peak resident memory over the measure
phase (`measurement.resources.rssPeakBytes`) beside the container's peak (`timings.memoryPeakBytes`).
Neither bounds the other: resident memory counts the runtime's mapped binary and libraries, whose
pages the cgroup may have charged elsewhere; the cgroup counts every process and the page cache."""

from __future__ import annotations

import pytest
from helpers import example, run

MB = 1 << 20
LANGUAGES = ("python", "javascript", "typescript", "go", "rust", "java", "cpp")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_language_reports_the_measuring_process_peak(client, require_image, language):
    require_image(language)
    solution, tests = example(language)
    result = await run(client, language, solution, tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    assert MB < result["measurement"]["resources"]["rssPeakBytes"] < 512 * MB  # the default memory limit


async def test_python_peak_leaves_out_what_validation_touched(client, require_image):
    # 200 MB only in the first call (validation), freed before the measure phase begins
    require_image("python")
    tests = (
        "from solution import fib\n\ncalls = 0\n\n"
        "def test_once_big():\n    global calls\n    calls += 1\n"
        "    if calls == 1:\n        block = bytearray(200 * 1024 * 1024)\n        del block\n"
        "    assert fib(10) == 55\n"
    )
    result = await run(client, "python", example("python")[0], tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    assert result["timings"]["memoryPeakBytes"] > 200 * MB
    assert result["measurement"]["resources"]["rssPeakBytes"] < 100 * MB


async def test_python_peak_covers_what_the_timed_runs_touch(client, require_image):
    require_image("python")
    tests = (
        "from solution import fib\n\n"
        "def test_big():\n    block = bytearray(150 * 1024 * 1024)\n    assert fib(10) == 55 and len(block)\n"
    )
    result = await run(client, "python", example("python")[0], tests, runs=3, warmup=0)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"]["resources"]["rssPeakBytes"] > 150 * MB


async def test_go_peak_is_the_measuring_binary(client, require_image):
    # the measuring binary is its own process: its whole peak (wait4), not the compiler's
    require_image("go")
    solution, _ = example("go")
    tests = (
        'package solution\n\nimport "testing"\n\n'
        "func TestBig(t *testing.T) {\n\tb := make([]byte, 120<<20)\n"
        '\tfor i := range b {\n\t\tb[i] = 1\n\t}\n\tif Fib(10) != 55 {\n\t\tt.Fatal("fib")\n\t}\n}\n'
    )
    result = await run(client, "go", solution, tests, runs=3, warmup=0)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"]["resources"]["rssPeakBytes"] > 120 * MB
