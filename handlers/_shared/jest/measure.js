'use strict';
/**
 * The measure phase: inside the live test environment (after the validating run, before Jest
 * tears it down) every passed test body is re-run warmup + runs times, timed with
 * process.hrtime.bigint(). beforeEach/afterEach hooks run untimed around each body, with a fresh
 * test context, as circus does; async bodies and done callbacks are awaited inside the timing.
 */
const { emit } = require('./report');

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

/** Runs every body once; returns a note when one stopped passing (which ends measurement). */
async function oneRun(specs, samples, guard) {
  for (const spec of specs) {
    const context = Object.create(null);
    try {
      await runHooks(spec.beforeEach, context, guard);
      const ns = await timeBody(spec, context, guard);
      await runHooks(spec.afterEach, context, guard);
      if (samples) samples.get(spec.name).push(ns);
    } catch (error) {
      return `${spec.name} raised while measured: ${String(error && error.message || error).split('\n')[0]}`;
    }
  }
  return null;
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

/** specs: [{name, fn, failing, beforeEach, afterEach}] of tests that all passed. */
async function measure(specs, global, job) {
  emit('phase', { name: 'measure' });
  const resolution = timerResolutionNs();
  const samples = new Map(specs.map((spec) => [spec.name, []]));
  const notes = [];
  const total = job.warmup + job.runs;
  const started = now();
  const deadline = started + BigInt(job.budgetMs) * 1000000n;
  const guard = budgetGuard(deadline);
  const restore = silence(global);
  let done = 0;
  try {
    while (done < total && now() <= deadline) {
      const note = await oneRun(specs, done >= job.warmup ? samples : null, guard);
      if (note) {
        notes.push(note);
        break;
      }
      done += 1;
    }
  } finally {
    restore();
    guard.cancel();
  }
  if (done < total && !notes.length) notes.push(`budget of ${job.budgetMs} ms spent after ${done} of ${total} runs`);
  const count = Math.min(...[...samples.values()].map((values) => values.length));
  for (const [name, values] of samples) emit('samples', { test: name, ns: values.slice(0, count) });
  emit('measured', { warmup: Math.min(job.warmup, done), timerResolutionNs: resolution, notes });
}

module.exports = { measure };
