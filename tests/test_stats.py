"""Statistics against values computed by hand."""

import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from test_channels import supervisor

from phronosd import stats
from phronosd.comparison import compare_job, entrant_outcomes, left_out_because, ran_in_turn_of, split_runs
from phronosd.execution_request import CompareRequest, Entrant, Measure
from phronosd.languages import Registry, Submission
from phronosd.sandbox import ContainerOutcome
from phronosd.verdict import Fault


def test_summary_of_five_samples():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["meanMs"] == 22.0
    assert s["medianMs"] == 3.0
    assert s["minMs"] == 1.0 and s["maxMs"] == 100.0
    assert s["stddevMs"] == pytest.approx(math.sqrt(7610 / 4))  # sample std, n-1
    assert s["p95Ms"] == pytest.approx(80.8)  # 4 + 0.8 * (100 - 4)
    half = 2.776 * math.sqrt(7610 / 4) / math.sqrt(5)
    assert s["ci95Ms"] == pytest.approx([22 - half, 22 + half])
    assert s["cv"] == pytest.approx(math.sqrt(7610 / 4) / 22)
    assert s["robustCv"] == pytest.approx(1.4826 * 1 / 3)  # MAD of |x - 3| = median(2,1,0,1,97) = 1
    assert s["outliers"] == [{"run": 4, "ms": 100.0}]  # 0.6745 * 97 / 1 = 65.4 > 3.5


def test_single_sample_has_no_spread():
    s = stats.summarize([2.5])
    assert s["meanMs"] == s["medianMs"] == s["p95Ms"] == 2.5
    assert s["stddevMs"] is None and s["ci95Ms"] is None and s["cv"] is None
    assert s["robustCv"] == 0.0 and s["outliers"] == []


def test_identical_samples_have_no_outliers():
    s = stats.summarize([1.0] * 10)
    assert s["stddevMs"] == 0.0 and s["robustCv"] == 0.0 and s["outliers"] == []


def test_t_quantiles():
    assert stats.t_quantile_95(1) == 12.706
    assert stats.t_quantile_95(30) == 2.042
    assert stats.t_quantile_95(60) == pytest.approx(2.000, abs=0.002)
    assert stats.t_quantile_95(10_000) == pytest.approx(1.960, abs=0.001)


def test_percentile_interpolates():
    assert stats.percentile([10.0, 20.0], 0.5) == 15.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)


def flags(samples, medians_ns=(1_000_000,), resolution=1.0):
    summary = stats.summarize(samples)
    return stats.flags_for(summary, samples, medians_ns, resolution)


def test_quiet_samples_have_no_flags():
    assert flags([1.0, 1.01, 0.99, 1.0, 1.02, 0.98]) == []


def test_noisy_and_unreliable():
    # median 1.0, MAD 0.1 -> robust CV 14.8 %: noisy, not unreliable
    assert flags([0.9, 1.0, 1.1, 0.9, 1.1, 1.0, 1.0]) == ["noisy"]
    # median 1.0, MAD 0.5 -> robust CV 74 %
    assert flags([0.5, 1.0, 1.5, 0.5, 1.5, 1.0, 1.0]) == ["noisy", "unreliable"]


def test_slow_first_run():
    assert "slow_first_run" in flags([5.0, 1.0, 1.01, 0.99, 1.0, 1.0])


def test_below_timer_resolution():
    assert "below_timer_resolution" in flags([1.0, 1.0, 1.0], medians_ns=[300], resolution=100)
    assert "below_timer_resolution" not in flags([1.0, 1.0, 1.0], medians_ns=[3000], resolution=100)


def test_early_stop_reasons():
    assert stats.early_stop_flag(100, 100, 500.0, 60000) is None
    assert stats.early_stop_flag(40, 100, 59000.0, 60000) == "time_budget_exhausted"
    assert stats.early_stop_flag(40, 100, 1200.0, 60000) == "stopped_early"  # e.g. a test failed while measured
    assert stats.early_stop_flag(40, 100, None, 60000) == "stopped_early"


def two_levels(low_count, high_count, low=1.0, high=1.9):
    """Two bands with a little hand-made jitter (±1 %), interleaved like a runtime switching levels."""
    jitter = [0.99, 1.0, 1.01, 1.0]
    lows = [low * jitter[i % 4] for i in range(low_count)]
    highs = [high * jitter[i % 4] for i in range(high_count)]
    return [x for pair in zip(lows, highs) for x in pair] + lows[len(highs) :] + highs[len(lows) :]


def test_two_speed_levels_are_bimodal():
    samples = two_levels(50, 50)
    assert stats.bimodal(samples)
    assert "bimodal" in flags(samples)


def test_a_minor_band_of_ten_percent_is_bimodal():
    assert stats.bimodal(two_levels(90, 10))


def test_a_few_outliers_are_not_a_second_mode():
    # 5 of 100 runs at 10x: outliers (reported as such), not a cluster of their own
    assert not stats.bimodal(two_levels(95, 5, high=10.0))


def test_a_long_unimodal_tail_is_not_bimodal():
    # an even spread from 1.00 to 1.99 ms: many small gaps, no empty region
    assert not stats.bimodal([1.0 + i / 100 for i in range(100)])
    # geometric growth (a long right tail): gaps widen, but so does the spread beside them
    assert not stats.bimodal([1.03**i for i in range(100)])


def test_close_levels_and_few_samples_are_not_bimodal():
    assert not stats.bimodal(two_levels(50, 50, high=1.05))  # 5 % apart: below the 10 % separation
    assert not stats.bimodal(two_levels(10, 9))  # fewer than 20 samples
    assert not stats.bimodal([1.0] * 100)


def blocked_trial(rng, effect: float, offset: float = 0.02, runs: int = 100, blocks: int = 6, tail=None):
    """Baseline and candidate run times as the compare driver takes them: `blocks` blocks, a fresh
    process of each solution in each, every process at a speed level of its own (a log-normal offset of
    spread `offset`: memory layout, hash seed), and in each round a common drifting level (the machine)
    and independent run-to-run noise; the candidate `effect` times slower."""
    base, cand, level = [], [], 1.0
    noise = tail or (lambda: rng.gauss(0, 0.02))
    for rounds in split_runs(runs, blocks):
        base_level, cand_level = math.exp(rng.gauss(0, offset)), effect * math.exp(rng.gauss(0, offset))
        base.append([])
        cand.append([])
        for _ in range(rounds):
            level *= math.exp(rng.gauss(0, 0.01))
            base[-1].append(2.0 * level * base_level * math.exp(noise()))
            cand[-1].append(2.0 * level * cand_level * math.exp(noise()))
    return base, cand


def heavy_tail(rng):
    return lambda: rng.gauss(0, 0.02) + (rng.expovariate(5) if rng.random() < 0.05 else 0)


@pytest.mark.parametrize("tail", ["normal", "heavy"])
@pytest.mark.parametrize(("offset", "blocks"), [(0.0, 6), (0.01, 6), (0.02, 6), (0.0, 12), (0.03, 12)])
def test_compare_a_solution_with_itself_is_indistinguishable_whatever_its_processes_speed_levels(tail, offset, blocks):
    rng = random.Random(7)
    same = [
        stats.compare_runs(base, {"c": cand})[0]
        for base, cand in (
            blocked_trial(rng, 1.0, offset, blocks=blocks, tail=heavy_tail(rng) if tail == "heavy" else None)
            for _ in range(200)
        )
    ]
    assert sum(r["verdict"] == "indistinguishable" for r in same) >= 0.95 * 200
    assert sum(r["ci95"][0] <= 1.0 <= r["ci95"][1] for r in same) >= 0.92 * 200


@pytest.mark.parametrize("tail", ["normal", "heavy"])
@pytest.mark.parametrize(("offset", "blocks"), [(0.0, 6), (0.01, 6), (0.02, 12)])
def test_compare_finds_five_percent_more_work_with_the_ratio_in_its_interval(tail, offset, blocks):
    """Six processes suffice while processes differ by about 1 %; at Python's 2 % it takes twelve
    (`compare_processes`; six find it in about 56 % of trials)."""
    rng = random.Random(11)
    results = [
        stats.compare_runs(base, {"c": cand})[0]
        for base, cand in (
            blocked_trial(rng, 1.05, offset, blocks=blocks, tail=heavy_tail(rng) if tail == "heavy" else None)
            for _ in range(200)
        )
    ]
    assert sum(r["verdict"] == "slower" for r in results) >= 0.95 * 200
    assert sum(r["ci95"][0] <= 1.05 <= r["ci95"][1] for r in results) >= 0.92 * 200
    slow, fast = blocked_trial(rng, 1.05, offset, blocks=blocks)
    faster = stats.compare_runs(fast, {"c": slow})
    assert faster[0]["verdict"] == "faster" and faster[0]["ratio"] < 1


def test_blocks_cut_from_one_process_each_would_take_its_speed_level_for_a_difference():
    """Why the driver starts a process per block: six blocks cut from the runs of a single process of
    each solution all share that pair's speed levels (2 % apart at random), so an A/A is called
    different far more often than 5 % of the time; with a fresh process per block it is not."""
    rng = random.Random(5)

    def declared(fresh_processes: bool) -> int:
        count = 0
        for _ in range(200):
            base, cand = blocked_trial(rng, 1.0, 0.02, blocks=6 if fresh_processes else 1)
            if not fresh_processes:
                base, cand = ([runs[0][i::6] for i in range(6)] for runs in (base, cand))
            count += stats.compare_runs(base, {"c": cand})[0]["verdict"] != "indistinguishable"
        return count

    assert declared(fresh_processes=False) > 0.3 * 200
    assert declared(fresh_processes=True) <= 0.05 * 200


def test_compare_needs_two_blocks_of_three_rounds_and_adjusts_for_several_candidates():
    few = stats.compare_runs([[1.0, 1.1, 1.0], [1.0, 1.0]], {"c": [[2.0, 2.1, 2.0], [2.0, 2.0]]})
    assert few[0]["verdict"] == "indistinguishable" and few[0]["ratio"] is None
    assert few[0]["pairs"] == 3 and few[0]["processes"] == 1
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    rng = random.Random(3)
    base, _ = blocked_trial(rng, 1.0)
    results = stats.compare_runs(base, {"same": [list(b) for b in base], "double": [[2 * x for x in b] for b in base]})
    assert [r["verdict"] for r in results] == ["indistinguishable", "slower"]
    assert results[1]["ratio"] == pytest.approx(2.0)
    assert results[1]["pairs"] == 100 and results[1]["processes"] == 6


def test_a_block_that_timed_nothing_is_left_out_and_keeps_the_others_paired():
    rng = random.Random(9)
    base, cand = blocked_trial(rng, 1.05, 0.0)
    cand[2] = []
    [result] = stats.compare_runs(base, {"c": cand})
    assert result["processes"] == 5 and result["verdict"] == "slower"
    assert result["ci95"][0] <= 1.05 <= result["ci95"][1]


def compare_request(language: str, runs: int) -> CompareRequest:
    solutions = [Entrant(name, Submission(solution="", tests="")) for name in ("a", "b")]
    return CompareRequest(Registry.discover().get(language), tuple(solutions), 1000, 256, Measure(runs, 0, False))


@pytest.mark.parametrize(
    ("language", "runs", "rounds"),
    [
        ("python", 100, [9] * 4 + [8] * 8),  # Python's twelve processes
        ("java", 100, [17] * 4 + [16] * 2),  # the default six
        ("java", 20, [4, 4, 3, 3, 3, 3]),
        ("python", 20, [4, 4, 3, 3, 3, 3]),  # no block of fewer than three rounds
        ("python", 5, [5]),
    ],
)
def test_the_daemon_splits_the_runs_into_the_languages_blocks_and_sends_the_split(language, runs, rounds):
    """The driver only follows `blockRounds`; the answer's shape check allows as many processes."""
    request = compare_request(language, runs)
    job = compare_job(request, 60_000)
    assert job["blockRounds"] == rounds and sum(rounds) == runs
    assert "runs" not in job and "processes" not in job
    for processes, shaped in ((len(rounds), True), (len(rounds) + 1, False)):
        outcome = ContainerOutcome({"solutions": [[{}] * processes] * 2}, 0, False, False, "", 1.0)
        assert isinstance(entrant_outcomes(outcome, 2, len(rounds)), Fault) is not shaped


@pytest.mark.parametrize("block_rounds", [None, 12, [], [3, 0], [3, "3"], [3.0], [True], [-1], [1] * 65])
def test_the_driver_refuses_a_split_that_is_not_a_short_list_of_positive_integers(block_rounds):
    assert supervisor.checked_block_rounds([9, 8]) == [9, 8]
    with pytest.raises(ValueError, match="blockRounds"):
        supervisor.checked_block_rounds(block_rounds)


def test_every_solution_starts_in_every_position_about_equally_often():
    """A start position is not neutral (the later of two identical micro suites ran faster in every
    block): over a job's blocks each solution takes each position equally often, give or take one,
    and the orders themselves are random."""
    for count, blocks in [(2, 12), (3, 12), (3, 5), (8, 12), (2, 1)]:
        orders = supervisor.start_orders(count, blocks)
        assert len(orders) == blocks and all(sorted(order) == list(range(count)) for order in orders)
        for position in range(count):
            taken = Counter(order[position] for order in orders)
            low, high = blocks // count, -(-blocks // count)
            assert all(low <= taken[index] <= high for index in range(count)), (count, blocks, taken)
    firsts = Counter(tuple(supervisor.start_orders(3, 3)[0]) for _ in range(300))
    assert len(firsts) == 6, firsts


def test_a_block_starts_its_processes_in_the_order_given_each_solution_as_its_own_user(monkeypatch):
    started: list[tuple[int, int]] = []

    class Recorded:
        def __init__(self, _job, _index, solution, _runs, _env, user):
            started.append((solution, user - supervisor.FIRST_SOLUTION_USER))

        def prepare(self):
            pass

    monkeypatch.setattr(supervisor, "Entrant", Recorded)
    monkeypatch.setattr(supervisor, "take_turn", lambda entrant, rivals, action: action())
    entrants = supervisor.start_block({"solutions": [0, 1, 2]}, 0, [2, 0, 1], 3, {})
    assert started == [(2, 2), (0, 0), (1, 1)] and list(entrants) == [2, 0, 1]


def test_each_finish_is_a_turn_with_the_rivals_still_to_finish_stopped(monkeypatch):
    """A process of a solution outlives its harness by the exit grace: each finish is a turn
    (`take_turn`) against those still to finish, and a block left out or a rival disqualified in a
    finish is in the frames, the finished entrant's too. Then every process left is killed: none
    lives on into the next block."""
    turns: list[tuple[str, list]] = []

    class Finishing:
        def __init__(self, name):
            self.name, self.void_with, self.ran_in_turn_of = name, None, None

        def finish(self, _deadline):
            return {"solution": self.name}

    def take_turn(entrant, rivals, action):
        turns.append((entrant.name, [rival.name for rival in rivals]))
        frame = action()
        if entrant.name == "b":  # c ran, stopped, during b's finish
            rivals[0].ran_in_turn_of, entrant.void_with = "b", {"rival": "c", "cause": "ran"}
        return frame

    monkeypatch.setattr(supervisor, "take_turn", take_turn)
    monkeypatch.setattr(supervisor, "kill_escaped", lambda entrants: turns.append(("sweep", entrants)))
    entrants = {1: Finishing("b"), 2: Finishing("c"), 0: Finishing("a")}
    frames = supervisor.finish_block(entrants, 1.0)
    assert turns == [("b", ["c", "a"]), ("c", ["a"]), ("a", []), ("sweep", [])]
    assert frames[1] == {"solution": "b", "voidWith": {"rival": "c", "cause": "ran"}, "ranInTurnOf": None}
    assert frames[2] == {"solution": "c", "voidWith": None, "ranInTurnOf": "b"}
    assert frames[0] == {"solution": "a", "voidWith": None, "ranInTurnOf": None}


def test_student_t_p_values_and_hodges_lehmann_by_hand():
    # The two-sided 5 % and 1 % points of Student's t (tables) give p = 0.05 and 0.01.
    for t, df in [(12.706, 1), (4.303, 2), (3.182, 3), (2.571, 5), (2.228, 10)]:
        assert stats.t_two_sided_p(t, df) == pytest.approx(0.05, abs=2e-4)
    for t, df in [(4.032, 5), (3.499, 7), (3.169, 10)]:
        assert stats.t_two_sided_p(t, df) == pytest.approx(0.01, abs=2e-4)
    assert stats.t_two_sided_p(0.0, 4) == 1.0
    assert stats.hodges_lehmann([float(d) for d in range(1, 11)]) == 5.5
    assert stats.hodges_lehmann([0.0, 0.0, 0.0, 100.0]) == 0.0


RESTING = {(20, 7): (b"T", 5_000), (21, 9): (b"T", 700)}  # a stopped rival's tasks: (tid, start): state, CPU ns
ENDED = {(20, 7): (b"T", 5_000), (21, 9): (b"Z", 700)}
GREW = {(20, 7): (b"T", 5_001), (21, 9): (b"T", 700)}
BEGAN = {**RESTING, (22, 30): (b"T", 10)}
REUSED = {(20, 7): (b"T", 5_000), (21, 31): (b"T", 700)}  # tid 21 ended, and a new task got its id
UNSTOPPED = {(20, 7): (b"T", 5_000), (21, 9): (b"D", 700)}  # e.g. a parent in vfork, its child stopped
OOM = {"stopped": ("running", "oom"), "running": ("stopped", "oom")}
RAN = {"running": ("stopped", "ran")}


@pytest.mark.parametrize(
    ("oom_kill", "turn_fails", "rest_after", "voided", "disqualified"),
    [
        (False, False, RESTING, {}, None),
        (True, False, ENDED, OOM, None),
        (True, True, ENDED, OOM, None),  # its failure may be the rival's memory: the OOM kill counts in its turn
        (False, False, ENDED, RAN, "stopped"),  # its own timer's SIGKILL: it acted in the turn
        (True, False, GREW, RAN, "stopped"),
        (False, True, GREW, RAN, "stopped"),  # the rival's doing, maybe: a timeout of a turn it slowed
        (False, False, BEGAN, RAN, "stopped"),
        (False, False, REUSED, RAN, "stopped"),
        (True, False, REUSED, RAN, "stopped"),  # an end is excused, not a beginning
        (False, False, UNSTOPPED, RAN, "stopped"),
    ],
)
def test_a_stopped_rival_that_ran_in_a_turn_is_disqualified_unless_the_oom_killer_ended_it(
    monkeypatch, oom_kill, turn_fails, rest_after, voided, disqualified
):
    """No solution can signal another's processes (a user each), so a stopped rival whose tasks' CPU
    time grew, or one of which began, ended or did not stop, during another's turn ran by its own
    doing (a SIGCONT of its own): it is disqualified, and the turn's block is left out. When the OOM
    killer acted in the turn and a task of the rival's ended, whose memory it was cannot be told: the
    block is left out for both."""

    class Turning:
        def __init__(self, name, pid):
            self.name, self.void_with, self.ran_in_turn_of, self.stepping, self.rest = name, None, None, True, {}
            self.supervision = type("Supervision", (), {"proc": type("Proc", (), {"pid": pid})})

        def void(self, rival, cause):
            self.void_with, self.stepping = (rival, cause), False

        def disqualify(self, rival):
            self.ran_in_turn_of, self.stepping = rival, False

    running, stopped = Turning("running", 10), Turning("stopped", 20)
    looks = iter([RESTING, rest_after])

    def kill_escaped(entrants, running=None):
        stopped.rest = next(looks)  # `Entrant.stop` at the end of each sweep

    monkeypatch.setattr(supervisor, "kill_escaped", kill_escaped)
    oom_counts = iter([3, 3 + oom_kill])  # the container's, before the turn's first sweep and after its last
    monkeypatch.setattr(supervisor, "cgroup_snapshot", lambda: {"oomKills": next(oom_counts)})

    def turn():
        running.stepping = not turn_fails
        return "done"

    assert supervisor.take_turn(running, [stopped], turn) == "done"
    assert {e.name: e.void_with for e in (running, stopped) if e.void_with} == voided
    assert stopped.ran_in_turn_of == (disqualified and "running")


def test_a_stopped_groups_tasks_keep_their_cpu_time_and_a_continued_one_gains():
    """`group_tasks` on this machine's /proc: a spinning process with a second thread, stopped, keeps
    each task's CPU time (nanoseconds, from schedstat) while stopped, and gains once continued."""
    spin = "import threading\nthreading.Thread(target=lambda: None).start()\nwhile True:\n    pass\n"
    child = subprocess.Popen([sys.executable, "-c", spin], process_group=0)
    try:
        time.sleep(0.2)
        os.killpg(child.pid, signal.SIGSTOP)
        time.sleep(0.05)
        stopped = supervisor.group_tasks(child.pid)
        time.sleep(0.1)
        assert supervisor.group_tasks(child.pid) == stopped and [tid for tid, _start in stopped] == [child.pid]
        assert all(state == b"T" and cpu_ns > 0 for state, cpu_ns in stopped.values())
        assert not supervisor.ran_between(stopped, supervisor.group_tasks(child.pid), ends_excused=False)
        os.killpg(child.pid, signal.SIGCONT)
        time.sleep(0.01)
        os.killpg(child.pid, signal.SIGSTOP)
        time.sleep(0.05)
        assert supervisor.ran_between(stopped, supervisor.group_tasks(child.pid), ends_excused=False)
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(
    ("frame", "left_out", "ran_in"),
    [
        ({"voidWith": None, "ranInTurnOf": None}, None, None),
        (
            {"voidWith": {"rival": "b", "cause": "oom"}},
            "the out-of-memory killer killed a stopped process of it or of b",
            None,
        ),
        ({"voidWith": {"rival": "b", "cause": "ran"}}, "b ran during its turn, while b was to be stopped", None),
        ({"ranInTurnOf": "b"}, None, "b"),
        ({"voidWith": "b", "ranInTurnOf": 3}, None, None),  # not the driver's shapes
        ({"voidWith": {"rival": "b", "cause": "bored"}}, None, None),
        (None, None, None),
    ],
)
def test_the_daemon_reads_why_a_block_was_left_out_and_who_ran_out_of_turn(frame, left_out, ran_in):
    outcome = ContainerOutcome(frame, 0, False, False, "", 1.0)
    why = left_out_because(outcome)
    assert (why or "").startswith(left_out or "") and (why is None) == (left_out is None)
    assert ran_in_turn_of(outcome) == ran_in


def test_a_process_whose_main_thread_ended_is_alive_while_a_thread_runs():
    """Its main thread a zombie, its other thread running: `processes` shows the zombie, and the sweep
    (`kill_escaped`) would have spared it, running on through every turn."""
    code = "import ctypes, threading, time\nthreading.Thread(target=time.sleep, args=(30,)).start()\nctypes.CDLL(None).syscall(60, 0)\n"
    child = subprocess.Popen([sys.executable, "-c", code])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        time.sleep(0.5)
        states = {pid: state for pid, state, _parent, _group in supervisor.processes()}
        assert states[child.pid] == states[ended.pid] == b"Z"
        assert supervisor.alive(child.pid, b"Z") and not supervisor.alive(ended.pid, b"Z")
        assert supervisor.alive(os.getpid(), b"R")
    finally:
        child.kill()
        child.wait()
        ended.wait()
