'use strict';
/**
 * The measure phase: inside the live test environment (after the validating run, before Jest
 * tears it down) every passed test body is re-run (warm-up runs, then the timed runs), timed with
 * process.hrtime.bigint(). A run's warm-up time is the sum of its bodies' times (warmup.js).
 * beforeEach/afterEach hooks run untimed around each body, with a fresh
 * test context, as circus does; async bodies and done callbacks are awaited inside the timing.
 * `measured.elapsedNs` is the phase on that same clock (from just after `phase measure` to just
 * before `measured`), which the daemon checks against the supervisor's clock.
 */
const fs = require('fs');
const { emit } = require('./report');
const { warmupRule, BUDGET_SHARE } = require('./warmup');

const now = process.hrtime.bigint;
const RESOLUTION_PROBES = 200;

function timerResolutionNs() {
  let best = Infinity;
  for (let i = 0; i < RESOLUTION_PROBES; i += 1) {
    const start = now();
    let next = now();
    while (next === start) next = now();
    best = Math.min(best, Number(next - start));
  }
  return best;
}

function isThenable(value) {
  return value != null && typeof value.then === 'function';
}

/** Calls a test or hook function like circus: a declared parameter means a done callback. */
function invoke(fn, context) {
  if (fn.length === 0) return fn.call(context);
  return new Promise((resolve, reject) => {
    const done = (reason) => (reason ? reject(reason) : resolve());
    done.fail = (message) => reject(new Error(message));
    fn.call(context, done);
  });
}

/** Never rejects: a compare job's timed runs wait for a hanging body until the driver's deadline. */
const NO_GUARD = Object.freeze({ expired: new Promise(() => {}), cancel: () => {} });

/** Rejects when the measuring budget is spent, so a body that never settles cannot hang us. */
function budgetGuard(deadlineNs) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('budget spent while awaiting a test body')),
      Math.max(0, Number(deadlineNs - now()) / 1e6));
  });
  expired.catch(() => {});
  return { expired, cancel: () => clearTimeout(timer) };
}

async function runHooks(hooks, context, guard) {
  for (const hook of hooks) {
    const value = invoke(hook.fn, context);
    if (isThenable(value)) await Promise.race([value, guard.expired]);
  }
}

/** One timed execution of a body; a `test.failing` body is expected to throw. */
async function timeBody(spec, context, guard) {
  let threw = null;
  const start = now();
  try {
    const value = invoke(spec.fn, context);
    if (isThenable(value)) await Promise.race([value, guard.expired]);
  } catch (error) {
    threw = error;
  }
  const elapsed = Number(now() - start);
  if (spec.failing ? !threw : threw) throw threw || new Error('a test.failing body passed');
  return elapsed;
}

/** Runs every body once: { times } (ns per spec, in order), or { note } when one stopped passing
 * (which ends measurement). */
async function oneRun(specs, guard) {
  const times = [];
  for (const spec of specs) {
    const context = Object.create(null);
    try {
      await runHooks(spec.beforeEach, context, guard);
      times.push(await timeBody(spec, context, guard));
      await runHooks(spec.afterEach, context, guard);
    } catch (error) {
      return { note: `${spec.name} raised while measured: ${String(error && error.message || error).split('\n')[0]}` };
    }
  }
  return { times };
}

/** Replaces every console method of the test environment and the process's stdout/stderr writers. */
function silence(global) {
  const saved = { console: global.console, out: process.stdout.write, err: process.stderr.write };
  const quiet = {};
  for (const key of Object.keys(saved.console)) quiet[key] = () => {};
  global.console = quiet;
  process.stdout.write = () => true;
  process.stderr.write = () => true;
  return () => {
    global.console = saved.console;
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  };
}

/** Starts this process's peak resident size over from its current size (Linux `clear_refs` 5). */
function restartPeakRss() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux, or /proc not writable: the peak then covers the whole process
  }
}

/** This process's peak resident size (VmHWM) in bytes since it started or since restartPeakRss. */
function peakRssBytes() {
  try {
    const found = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return found ? Number(found[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Sends `progress` of the timed runs after every tenth of them and after the last (between runs,
 *  never inside a timed span). Returns the function to call after each timed run, and at the end. */
function progressReporter(runsTotal) {
  const every = Math.max(1, Math.floor(runsTotal / 10));
  let sent = 0;
  return (runsDone, last = false) => {
    if (runsDone === sent || (!last && runsDone % every && runsDone !== runsTotal)) return;
    emit('progress', { phase: 'measure', runsDone, runsTotal });
    sent = runsDone;
  };
}

/** The timed runs of a `/run`: as many as asked while the budget lasts, with `progress`. */
function budgetPacer(deadline, runsTotal) {
  const reportProgress = progressReporter(runsTotal);
  return {
    start() {},
    nextRun: () => now() <= deadline,
    runDone: (done) => reportProgress(done),
    finish: (done) => reportProgress(done, true),
  };
}

/** The timed runs of a compare job (handlers/README.md: Compare jobs): one for each byte the driver
 *  writes to the step pipe, until its end; the driver keeps the budget and reports the progress. */
function stepPacer(stepFd) {
  const byte = Buffer.alloc(1);
  return {
    start: () => emit('stepping'),
    nextRun: () => fs.readSync(stepFd, byte, 0, 1, null) === 1,
    runDone: () => emit('step_done'),
    finish() {},
  };
}

/** A body that calls process.exit() ends the phase with the process, before `measured`: say why.
 *  Returns the function that stops watching. */
function noteExitWhileMeasured() {
  const onExit = (code) => emit('note', { message: `a test ended the process (exit code ${code}) while it was measured: no measurement` });
  process.on('exit', onExit);
  return () => process.off('exit', onExit);
}

/** Untimed runs until the warm-up rule is met or the budget is spent: { warmups, note }. */
async function warmUp(specs, guard, job, started, deadline) {
  const over = warmupRule(job.warmup);
  const shareEnds = started + BigInt(Math.round(Number(deadline - started) * BUDGET_SHARE));
  const warmups = [];
  while (now() <= deadline && !over(warmups, now() > shareEnds)) {
    const { note, times } = await oneRun(specs, guard);
    if (note) return { warmups, note };
    warmups.push(times.reduce((a, b) => a + b, 0));
  }
  return { warmups, note: null };
}

/** The timed runs, as many as asked while the pacer lets them go on, into `samples`: { timed, note }
 *  (why they stopped early: a test that stopped passing, or null). */
async function timedRuns(specs, guard, runsTotal, samples, pacer) {
  let timed = 0;
  let note = null;
  pacer.start();
  while (timed < runsTotal && pacer.nextRun()) {
    const run = await oneRun(specs, guard);
    note = run.note || null;
    if (note) break;
    specs.forEach((spec, i) => samples.get(spec.name).push(run.times[i]));
    timed += 1;
    pacer.runDone(timed);
  }
  pacer.finish(timed);
  return { timed, note };
}

function budgetNote(job, warmups, timed) {
  return `budget of ${job.budgetMs} ms spent after ${warmups} warm-up and ${timed} of ${job.runs} timed runs`;
}

/** Warm-up, then the timed runs (stepped by the driver in a compare job), silenced:
 *  { warmups, timed, notes }. */
async function measureRuns(specs, global, job, samples) {
  const started = now();
  const deadline = started + BigInt(job.budgetMs) * 1000000n;
  const guard = budgetGuard(deadline);
  const restore = silence(global);
  const unwatchExit = noteExitWhileMeasured();
  restartPeakRss();
  try {
    const { warmups, note } = await warmUp(specs, guard, job, started, deadline);
    if (note) return { warmups, timed: 0, notes: [note] };
    if (now() > deadline) return { warmups, timed: 0, notes: [budgetNote(job, warmups.length, 0)] };
    const stepped = job.stepFd !== null;
    const pacer = stepped ? stepPacer(job.stepFd) : budgetPacer(deadline, job.runs);
    const { timed, note: failure } = await timedRuns(specs, stepped ? NO_GUARD : guard, job.runs, samples, pacer);
    if (failure) return { warmups, timed, notes: [failure] };
    const spent = !stepped && timed < job.runs; // a compare job's driver ends the runs itself
    return { warmups, timed, notes: spent ? [budgetNote(job, warmups.length, timed)] : [] };
  } finally {
    unwatchExit();
    restore();
    guard.cancel();
  }
}

/** specs: [{name, fn, failing, beforeEach, afterEach}] of tests that all passed. */
async function measure(specs, global, job) {
  emit('phase', { name: 'measure' });
  const phaseStarted = now();
  const resolution = timerResolutionNs();
  const samples = new Map(specs.map((spec) => [spec.name, []]));
  const { warmups, notes } = await measureRuns(specs, global, job, samples);
  for (const [name, values] of samples) emit('samples', { test: name, ns: values });
  const rssPeakBytes = peakRssBytes();
  const elapsedNs = Number(now() - phaseStarted);
  emit('measured', { warmup: warmups.length, timerResolutionNs: resolution, notes, rssPeakBytes, elapsedNs });
}

module.exports = { measure };
