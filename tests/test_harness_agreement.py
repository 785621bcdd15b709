"""Helpers that each runtime must implement in its own language (the adaptive warm-up rule, the peak
memory of the measuring process) cannot share code: these checks prove the copies agree with the
rule of handlers/README.md, so one cannot drift from the others unnoticed. No Docker needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"
# The adaptive warm-up rule (handlers/README.md, "Adaptive warm-up").
WARMUP_RULE = {"WINDOW": 10, "STABLE_SPREAD": 0.05, "SETTLED_MARGIN": 0.25, "CAP": 200, "BUDGET_SHARE": 0.25}
WARMUP_COPIES = {
    "_shared/jest/warmup.js": r"const {name} = ([\d.]+);",
    "java/harness/src/phronosd/Warmup.java": r"static final \w+ {name} = ([\d.]+);",
}
# The peak resident size of the measuring process: restarted with clear_refs 5, read from VmHWM.
PEAK_RSS_COPIES = (
    "_shared/pyharness/phronosd_harness.py",
    "_shared/jest/measure.js",
    "java/harness/src/phronosd/PeakRss.java",
)


@pytest.mark.parametrize("path, pattern", WARMUP_COPIES.items())
def test_every_warmup_copy_has_the_rule_of_the_readme(path, pattern):
    text = (HANDLERS / path).read_text()
    for name, value in WARMUP_RULE.items():
        found = re.search(pattern.format(name=name), text)
        assert found, f"{path} does not define {name}"
        assert float(found.group(1)) == value, f"{path}: {name} = {found.group(1)}, the rule says {value}"


def test_the_readme_states_the_same_warmup_rule():
    readme = (HANDLERS / "README.md").read_text()
    assert "the last k = 10 warm-up times" in readme
    assert "robust CV (1.4826·MAD/median) of\n  at most 5 %" in readme or "at most 5 %" in readme
    assert "within 25 % of the fastest" in readme
    assert "**cap**: 200 warm-up runs" in readme
    assert "a quarter of the measuring budget" in readme


@pytest.mark.parametrize("path", PEAK_RSS_COPIES)
def test_every_peak_memory_copy_restarts_and_reads_the_same_figure(path):
    text = (HANDLERS / path).read_text()
    assert "clear_refs" in text and re.search(r"['\"]5['\"]", text), (
        f"{path} does not restart the peak with clear_refs 5"
    )
    assert "VmHWM" in text, f"{path} does not read VmHWM"


# The timer-resolution probe: the smallest step of the clock over 200 pairs of readings.
PROBES = {
    "python/harness/phronosd_pytest.py": "def timer_resolution_ns",
    "_shared/jest/measure.js": "function timerResolutionNs",
    "java/harness/src/phronosd/Measurement.java": "static long timerResolutionNs",
    "go/harness/runner/measure.go": "func resolution",
    "rust/harness/runner.rs": "fn resolution_ns",
    "cpp/harness/phronosd_main.cpp": "long long timer_resolution_ns",
}


@pytest.mark.parametrize("path, definition", PROBES.items())
def test_every_timer_probe_takes_the_smallest_step_of_200_readings(path, definition):
    text = (HANDLERS / path).read_text()
    assert definition in text, f"{path} has no {definition}"
    body = text[text.index(definition) :][:700]
    named = [name for name in re.findall(r"\b([A-Z][A-Z_]+)\b", body) if re.search(rf"\b{name}\b\s*=\s*200\b", text)]
    assert re.search(r"\b200\b", body) or named, f"{path}: the probe does not take 200 readings"
    assert re.search(r"\bmin\b|Math\.min|std::min|< best|best =", body), (
        f"{path}: the probe does not keep the smallest step"
    )
