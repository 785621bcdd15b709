"""Prometheus metrics, in a registry of the app's own (tests build many apps in one process).

Labels are bounded sets: route names (never raw paths), methods, statuses, language names and
verdicts. Durations come from the result's own timings, so the histograms agree with the API.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .keys import EXECUTIONS, EXECUTOR, POOL, SANDBOX
from .logs import route_name
from .middlewares import Handler

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
QUEUE_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300)


class LiveState(Collector):
    """Read at scrape time from the executor and sandbox, which exist only while the app runs."""

    def __init__(self, app: web.Application):
        self.app = app

    def collect(self) -> Iterator:
        executor, sandbox = self.app.get(EXECUTOR), self.app.get(SANDBOX)
        running = GaugeMetricFamily("phronosd_executions_running", "Containers running an execution now")
        queued = GaugeMetricFamily("phronosd_executions_queued", "Executions waiting for a container slot")
        failures = CounterMetricFamily(
            "phronosd_container_cleanup_failures", "Containers that could not be removed, and failed sweeps"
        )
        running.add_metric([], executor.running if executor else 0)
        queued.add_metric([], executor.queued if executor else 0)
        failures.add_metric([], sandbox.cleanup_failures if sandbox else 0)
        pool = GaugeMetricFamily(
            "phronosd_pool_containers", "Warm pool containers by language and state", labels=["language", "state"]
        )
        for language, counts in (self.app[POOL].counts() if POOL in self.app else {}).items():
            for state, count in counts.items():
                pool.add_metric([language, state], count)
        yield from (running, queued, failures, pool)


class Metrics:
    def __init__(self, app: web.Application):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "phronosd_http_requests",
            "HTTP requests by route name, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.executions = Counter(
            "phronosd_executions",
            "Executions that ran, by language, mode and verdict",
            ["language", "mode", "verdict"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "phronosd_execution_duration_seconds",
            "Wall time of an execution, from slot to result (no queueing)",
            ["language", "mode"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "phronosd_queue_wait_seconds",
            "Time an execution waited for a container slot",
            ["language"],
            buckets=QUEUE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(LiveState(app))
        self.handler = make_aiohttp_handler(self.registry)

    def observe(self, request: web.Request, response: web.StreamResponse) -> None:
        self.requests.labels(route_name(request), request.method, str(response.status)).inc()
        for result in request.get(EXECUTIONS, []):
            language = result["language"]
            mode = "run" if "measurement" in result else "validate"
            timings = result["timings"]
            self.executions.labels(language, mode, result["status"]).inc()
            self.duration.labels(language, mode).observe((timings["totalMs"] - timings["queueMs"]) / 1000)
            self.queue_wait.labels(language).observe(timings["queueMs"] / 1000)


METRICS = web.AppKey("metrics", Metrics)


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: it sees the final status of every answered request, errors included."""
    response = await handler(request)
    request.app[METRICS].observe(request, response)
    return response


def setup_metrics(app: web.Application) -> None:
    """Register the metrics, their middleware (outermost) and `GET /metrics`."""
    app[METRICS] = metrics = Metrics(app)
    app.middlewares.insert(0, count_requests)
    app.router.add_get("/metrics", metrics.handler, name="metrics")
