"""What `phronosd validate|run|compare` print: tables, a progress bar, the hyperfine-style summary and a
histogram of the run times, drawn with rich. Results go to stdout, progress and errors to stderr;
colours only on a terminal and never with NO_COLOR (rich's own rules). Only the client commands
import this module."""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .client import Event, PhronosdError

MESSAGE_LINES = 12  # of a failure message in the table; --json has them all
MAX_BINS = 20
BAR_WIDTH = 40
EIGHTHS = " ▏▎▍▌▋▊▉"
UNITS = (("s", 1000.0), ("ms", 1.0), ("µs", 1e-3), ("ns", 1e-6))
PHASES = {
    "queued": "waiting for a slot",
    "running": "starting",
    "compile": "compiling",
    "validate": "validating",
    "warmup": "warming up",
    "measure": "measuring",
}
FLAG_WORDS = {
    "noisy": "noisy: the run times vary by more than 5 % (robust CV {robust_cv})",
    "unreliable": "unreliable: the run times vary by more than 15 % (robust CV {robust_cv})",
    "slow_first_run": "slow first run: the first timed run was an outlier above the median",
    "below_timer_resolution": "below timer resolution: a test's median is under 20 clock ticks",
    "time_budget_exhausted": "fewer runs than asked: the measuring time budget ran out",
    "stopped_early": "stopped early: fewer runs than asked (the notes say why)",
    "throttled": "throttled: the CPU quota throttled the container while it measured",
    "preempted": "preempted: CPU time under half the wall time (the core was taken away, or the tests waited)",
    "bimodal": "bimodal: the run times fall into two clusters; no single central value describes them",
    "no_measuring_lane": "no measuring lane: measured on the shared cores under the CPU quota",
    "timing_inconsistent": "timing inconsistent: the harness's clock disagreed with the supervisor's",
}

HINTS = {
    "client.unreachable": "is it running? `phronosd serve` starts one; --url, --socket or PHRONOSD_URL name another",
    "auth.required": "this daemon wants a bearer token: --token or PHRONOSD_TOKEN",
    "auth.invalid": "this daemon does not accept that token (--token or PHRONOSD_TOKEN)",
}


def unit_for(ms: float) -> tuple[str, float]:
    """The unit in which `ms` reads best, and its size in ms."""
    return next(((name, size) for name, size in UNITS if abs(ms) >= size), UNITS[-1])


class Durations:
    """Formats a block of durations in one unit and precision, chosen from a typical one (hyperfine's way)."""

    def __init__(self, typical_ms: float):
        self.unit, self.size = unit_for(typical_ms)
        scaled = abs(typical_ms) / self.size
        self.decimals = 1 if scaled >= 100 else 2 if scaled >= 10 else 3

    def __call__(self, ms: float | None) -> str:
        return "-" if ms is None else f"{ms / self.size:.{self.decimals}f} {self.unit}"


def duration(ms: float | None) -> str:
    return "-" if ms is None else Durations(ms)(ms)


def status_text(status: str) -> Text:
    return Text(status.replace("_", " ").upper(), style="bold green" if status == "passed" else "bold red")


def test_status_text(status: str) -> Text:
    style = {"passed": "green", "skipped": "yellow"}.get(status, "bold red")
    return Text(status, style=style)


def shortened(message: str | None) -> str:
    if not message:
        return ""
    lines = message.rstrip().splitlines()
    if len(lines) <= MESSAGE_LINES:
        return "\n".join(lines)
    return "\n".join(lines[:MESSAGE_LINES] + [f"… {len(lines) - MESSAGE_LINES} more lines (--json has them)"])


def histogram_bins(samples: Sequence[float], bins: int) -> list[tuple[float, float, int]]:
    """(low, high, count) of `bins` equal bins from min to max; the last bin includes max."""
    low, high = min(samples), max(samples)
    if high == low:
        return [(low, high, len(samples))]
    width = (high - low) / bins
    counts = Counter(min(int((value - low) / width), bins - 1) for value in samples)
    return [(low + i * width, low + (i + 1) * width if i < bins - 1 else high, counts.get(i, 0)) for i in range(bins)]


def without_outliers(samples: Sequence[float], outliers: Sequence[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """(the samples, the outliers the daemon reported), so the histogram shows the bulk at a useful scale."""
    left = Counter(o["ms"] for o in outliers)
    kept, removed = [], []
    for value in samples:
        if left[value] > 0:
            left[value] -= 1
            removed.append(value)
        else:
            kept.append(value)
    return (kept, removed) if len(kept) >= 2 else (list(samples), [])


def bar(count: int, most: int, width: int) -> str:
    """A horizontal bar of `count` out of `most` over `width` cells, in eighths of a cell."""
    eighths = round(8 * width * count / most) if most else 0
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


class Output:
    """Everything the client commands print. With `as_json`, the API's answers only (and no progress)."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def json(self, document: Any) -> None:
        print(json.dumps(document, indent=2, ensure_ascii=False), flush=True)

    # Waiting ----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        """A spinner on a terminal while a synchronous call runs."""
        if self.as_json or not self.err.is_terminal:
            yield
            return
        with self.err.status(f"{what}…"):
            yield

    @contextlib.contextmanager
    def progress(self) -> Iterator[Callable[[Event], None]]:
        """A live progress bar fed by a job's events (on a terminal); yields the event callback."""
        if self.as_json or not self.err.is_terminal:
            yield lambda event: None
            return
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err, transient=True) as bar_view:
            task = bar_view.add_task(PHASES["queued"], total=None)

            def on_event(event: Event) -> None:
                if event.kind == "status" and event.data.get("status") in PHASES:
                    bar_view.update(task, description=PHASES[event.data["status"]])
                elif event.kind == "progress":
                    phase = event.data.get("phase") or ""
                    total = event.data.get("runsTotal") or None
                    counting = phase == "measure" and total is not None
                    bar_view.update(
                        task,
                        description=PHASES.get(phase, phase),
                        total=total if counting else None,
                        completed=event.data.get("runsDone") or 0,
                    )

            yield on_event

    # Validation -------------------------------------------------------------------------------------

    def verdict(self, result: dict[str, Any]) -> None:
        """A table of the tests, the message of a run that did not get to them, the summary line."""
        if self.as_json:
            self.json(result)
            return
        self.outcome(result)
        self.notes(result.get("notes") or [])
        self.out.print(self.summary(result))

    def outcome(self, result: dict[str, Any]) -> None:
        """The tests, and the message of a run that ended otherwise than by failing tests (a compile
        error, a timeout, ...)."""
        self.tests_table(result)
        if result.get("message") and result["status"] != "failed":
            self.out.print(Text(result["message"].rstrip()))

    def tests_table(self, result: dict[str, Any]) -> None:
        if not result.get("tests"):
            return
        with_messages = any(test.get("message") for test in result["tests"])
        table = Table(box=None, pad_edge=False, header_style="bold")
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("test", "left"),
            ("status", "left"),
            ("time", "right"),
            ("message", "left"),
        )
        for column, justify in columns:
            if column != "message" or with_messages:
                table.add_column(column, justify=justify, overflow="fold")
        for test in result["tests"]:
            cells = [test["name"], test_status_text(test["status"]), duration(test.get("durationMs"))]
            table.add_row(*cells, *([shortened(test.get("message"))] if with_messages else []))
        self.out.print(table)

    def summary(self, result: dict[str, Any]) -> Text:
        line = status_text(result["status"])
        counts = (
            f"  {result['testsPassed']} passed, {result['testsFailed']} failed, "
            f"{result['testsSkipped']} skipped of {result['totalTests']} tests"
        )
        total = (result.get("timings") or {}).get("totalMs")
        line.append(counts + (f" in {duration(total)}" if total is not None else "") + f" ({result['language']})")
        return line

    def notes(self, notes: Sequence[str]) -> None:
        for note in notes:
            self.out.print(Text(f"note: {note}", style="dim"))

    # Measurement ------------------------------------------------------------------------------------

    def measurement(self, result: dict[str, Any], title: str) -> None:
        """hyperfine's summary of a run: mean ± σ, median, range, runs, the flags in words, a histogram."""
        if self.as_json:
            self.json(result)
            return
        measured = result.get("measurement")
        if not result["passed"] or measured is None or not measured.get("runs"):
            self.verdict(result)
            self.notes((measured or {}).get("notes") or [])
            self.out.print(Text("not measured", style="bold red"))
            return
        self.out.print(Text(f"Benchmark: {title}", style="bold").append(f" ({result['language']})", style="dim"))
        self.statistics(measured)
        self.flags(measured)
        self.per_test(measured)
        self.histogram(measured)
        self.notes([*(result.get("notes") or []), *(measured.get("notes") or [])])
        self.out.print(self.summary(result))

    def statistics(self, m: dict[str, Any]) -> None:
        fmt = Durations(m["medianMs"])
        warmup = m.get("warmup")
        runs = f"{m['runs']} runs" + (f" after {warmup} warm-up runs" if warmup else "")
        rows = [
            ("Time (mean ± σ):", f"{fmt(m['meanMs']):>10} ± {fmt(m['stddevMs']):>10}", ""),
            ("Time (median):", f"{fmt(m['medianMs']):>10}", ""),
            ("Range (min … max):", f"{fmt(m['minMs']):>10} … {fmt(m['maxMs']):>10}", runs),
        ]
        if m.get("ci95Ms"):
            low, high = m["ci95Ms"]
            rows.append(("95 % CI of the mean:", f"{fmt(low):>10} … {fmt(high):>10}", ""))
        for label, values, extra in rows:
            line = Text(f"  {label:<22}")
            line.append(values, style="bold")
            line.append(f"    {extra}" if extra else "")
            self.out.print(line)
        resources = m.get("resources") or {}
        if resources.get("wallMs") is not None:
            rss = resources.get("rssPeakBytes")
            self.out.print(
                Text(
                    f"  measure phase: {duration(resources['wallMs'])} wall, {duration(resources.get('cpuMs'))} CPU"
                    + (f", peak RSS {rss / 2**20:.1f} MiB" if rss else ""),
                    style="dim",
                )
            )

    def flags(self, m: dict[str, Any]) -> None:
        robust_cv = "-" if m.get("robustCv") is None else f"{100 * m['robustCv']:.1f} %"
        for flag in m.get("flags") or []:
            words = FLAG_WORDS.get(flag, flag).format(robust_cv=robust_cv)
            self.out.print(Text(f"  ⚠ {words}", style="yellow"))

    def per_test(self, m: dict[str, Any]) -> None:
        tests = m.get("perTest") or []
        if len(tests) < 2:
            return
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("  test")
        table.add_column("median", justify="right")
        table.add_column("mean", justify="right")
        for test in tests:
            table.add_row(f"  {test['name']}", duration(test.get("medianMs")), duration(test.get("meanMs")))
        self.out.print(table)

    def histogram(self, m: dict[str, Any]) -> None:
        """The run times in bins from the fastest to the slowest (the daemon's outliers summed up apart)."""
        samples, outliers = without_outliers(m.get("samplesMs") or [], m.get("outliers") or [])
        if len(samples) < 2:
            return
        fmt = Durations(m["medianMs"])
        bins = histogram_bins(samples, max(1, min(MAX_BINS, round(math.sqrt(len(samples))))))
        most = max(n for _, _, n in bins)
        labels = [f"{fmt(low)} … {fmt(high)}" for low, high, _ in bins]
        width = max(len(label) for label in labels)
        self.out.print(Text(f"  Histogram ({len(samples)} runs)", style="bold"))
        for label, (_, _, n) in zip(labels, bins):
            line = Text(f"  {label:>{width}} ")
            line.append(bar(n, most, BAR_WIDTH), style="cyan")
            line.append(f" {n}")
            self.out.print(line)
        if outliers:
            self.out.print(
                Text(
                    f"  and {len(outliers)} outlier runs from {duration(min(outliers))} to {duration(max(outliers))}",
                    style="dim",
                )
            )

    # Comparison -------------------------------------------------------------------------------------

    def comparison(self, result: dict[str, Any]) -> None:
        """The solutions ranked by median run time, one sentence per candidate against the baseline,
        the flags of each, and the tests of those that did not pass."""
        if self.as_json:
            self.json(result)
            return
        self.ranking_table(result)
        comparison: dict[str, Any] = result.get("comparison") or {}
        for candidate in comparison.get("results", []):
            self.out.print(sentence(candidate, comparison["baseline"]))
        for solution in result["solutions"]:
            flags = (solution.get("measurement") or {}).get("flags")
            if flags:
                self.out.print(Text(f"⚠ {solution['name']}: {', '.join(flags)}", style="yellow"))
        for solution in result["solutions"]:
            if not solution["passed"]:
                self.out.print(Text(f"{solution['name']}: ", style="bold").append(self.summary(solution)))
                self.outcome(solution)

    def ranking_table(self, result: dict[str, Any]) -> None:
        by_name = {s["name"]: s for s in result["solutions"]}
        ratios = {c["name"]: c.get("ratio") for c in (result.get("comparison") or {}).get("results", [])}
        baseline = (result.get("comparison") or {}).get("baseline")
        table = Table(box=None, pad_edge=False, header_style="bold")
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("#", "right"),
            ("solution", "left"),
            ("status", "left"),
            ("median", "right"),
            ("mean ± σ", "right"),
            ("runs", "right"),
            ("× baseline", "right"),
        )
        for column, justify in columns:
            table.add_column(column, justify=justify, no_wrap=column != "solution")
        ranked = [*result["ranking"], *(name for name in by_name if name not in result["ranking"])]
        for place, name in enumerate(ranked, 1):
            solution = by_name[name]
            m = solution.get("measurement") or {}
            measured = name in result["ranking"]
            ratio = 1.0 if name == baseline else ratios.get(name)
            table.add_row(
                str(place) if measured else "-",
                name,
                test_status_text(solution["status"]),
                duration(m.get("medianMs")) if measured else "-",
                f"{duration(m.get('meanMs'))} ± {duration(m.get('stddevMs'))}" if measured else "-",
                str(m.get("runs", "-")) if measured else "-",
                "-" if ratio is None else f"{ratio:.2f}",
            )
        self.out.print(table)

    # Failures ---------------------------------------------------------------------------------------

    def error(self, error: PhronosdError) -> None:
        """The daemon's error (also as its JSON document with --json), or why it could not be reached."""
        if self.as_json and error.status is not None:
            self.json(
                {
                    "error": {"code": error.code, "message": error.message, "details": error.details},
                    "requestId": error.request_id,
                }
            )
        where = ", ".join(
            part
            for part in (
                error.code,
                error.status and f"HTTP {error.status}",
                error.request_id and f"request {error.request_id}",
            )
            if part
        )
        self.err.print(Text(f"phronosd: {error.message} ({where})", style="red"))
        for detail in error.details:
            self.err.print(Text(f"  {detail.get('path', '')}: {detail.get('problem', '')}"))
        hint = HINTS.get(error.code)
        if hint:
            self.err.print(hint)

    def interrupted(self) -> None:
        self.err.print(Text("phronosd: interrupted; the daemon stops what it ran for this command", style="red"))


def sentence(candidate: dict[str, Any], baseline: str) -> Text:
    """`slow.py is 1.21 ± 0.02 times slower than solution.py`: the ratio of typical run times, ± half its
    95 % interval (the interval itself follows: it need not be symmetric)."""
    name, ratio, interval = candidate["name"], candidate.get("ratio"), candidate.get("ci95")
    if ratio is None or not interval:
        return Text(f"{name} could not be compared with {baseline}: {candidate.get('pairs', 0)} paired runs")
    low, high = interval
    if candidate["verdict"] == "faster":
        ratio, low, high = 1 / ratio, 1 / high, 1 / low
    p = candidate.get("pValue")
    detail = f" (95 % interval {low:.2f} … {high:.2f}" + (f", p = {p:.2g})" if p is not None else ")")
    if candidate["verdict"] == "indistinguishable":
        return Text(f"{name} is indistinguishable from {baseline}: ratio {ratio:.2f}{detail}")
    text = Text(f"{name}", style="bold")
    text.append(f" is {ratio:.2f} ± {(high - low) / 2:.2f} times {candidate['verdict']} than ")
    text.append(baseline, style="bold")
    return text.append(detail)
