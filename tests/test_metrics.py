"""GET /metrics: Prometheus text from the app's own registry, labelled by route name, never raw path.
Its shape is checked on the fake docker CLI; one test counts a run of a real container."""

from __future__ import annotations

from helpers import post
from prometheus_client.parser import text_string_to_metric_families

from phronosd.docker import ProcessResult
from phronosd.keys import EXECUTOR
from phronosd.sandbox import Sandbox

GOOD = {
    "language": "python",
    "solution": "def add(a, b):\n    return a + b\n",
    "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


async def samples(client) -> dict[tuple, float]:
    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_requests_executions_durations_and_gauges(fake_client):
    await post(fake_client, "/api/execute/validate", GOOD)
    await post(fake_client, "/api/execute/validate", {**GOOD, "tests": "def test_x():\n    assert False\n"})
    await post(fake_client, "/api/execute/validate", {**GOOD, "language": 3}, expect=400)
    await fake_client.get("/no/such/path/12345")
    await fake_client.app[EXECUTOR].drain_held()  # the containers' slots, held until they are gone
    got = await samples(fake_client)
    assert got[("phronosd_http_requests_total", (("method", "POST"), ("route", "validate"), ("status", "200")))] == 2
    assert got[("phronosd_http_requests_total", (("method", "POST"), ("route", "validate"), ("status", "400")))] == 1
    assert got[("phronosd_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert not any("12345" in str(labels) for _, labels in got)  # raw paths never become labels
    for verdict in ("passed", "failed"):
        key = (("language", "python"), ("mode", "validate"), ("verdict", verdict))
        assert got[("phronosd_executions_total", key)] == 1
    assert got[("phronosd_execution_duration_seconds_count", (("language", "python"), ("mode", "validate")))] == 2
    assert got[("phronosd_execution_duration_seconds_sum", (("language", "python"), ("mode", "validate")))] > 0
    assert got[("phronosd_queue_wait_seconds_count", (("language", "python"),))] == 2
    assert got[("phronosd_executions_running", ())] == 0 and got[("phronosd_executions_queued", ())] == 0
    assert got[("phronosd_container_cleanup_failures_total", ())] == 0


async def test_run_is_counted_as_run(client):
    await post(client, "/api/execute/run", {**GOOD, "runs": 5, "warmup": 1})
    got = await samples(client)
    key = (("language", "python"), ("mode", "run"), ("verdict", "passed"))
    assert got[("phronosd_executions_total", key)] == 1


async def test_each_app_has_its_own_registry(fake_client):
    """A second app in the same process starts from zero (tests build many apps)."""
    before = await samples(fake_client)
    assert (
        "phronosd_executions_total",
        (("language", "python"), ("mode", "validate"), ("verdict", "passed")),
    ) not in before


class RacingDocker:
    """`docker rm -f` answering as the engine does while `--rm` already removes the exited container
    (a race no real test can cause on demand), or as it does for one that is gone."""

    def __init__(self, stderr: bytes):
        self.stderr = stderr

    async def run(self, args: list[str], timeout: float) -> ProcessResult:
        assert args[:2] == ["rm", "-f"], args
        return ProcessResult(1, b"", self.stderr, overflow=False, timed_out=False, duration_s=0.01)


async def test_a_container_already_being_removed_is_no_cleanup_failure():
    for stderr in (
        b"Error response from daemon: removal of container phronosd-x is already in progress\n",
        b"Error response from daemon: No such container: phronosd-x\n",
    ):
        sandbox = Sandbox(RacingDocker(stderr), "test")
        await sandbox.remove("phronosd-x")
        assert sandbox.cleanup_failures == 0 and not sandbox.unremoved, stderr
    sandbox = Sandbox(RacingDocker(b"Cannot connect to the Docker daemon\n"), "test")
    await sandbox.remove("phronosd-x")
    assert sandbox.cleanup_failures == 1 and sandbox.unremoved == {"phronosd-x"}
