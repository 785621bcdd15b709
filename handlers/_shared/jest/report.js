'use strict';
/**
 * The report channel (fd $PHRONOSD_REPORT_FD) and the job settings, shared by the harness entry
 * point and the test environment: Jest loads the environment with Node's own `require`, so both
 * get this one module instance.
 *
 * Every line goes out behind the per-run token, read here at load (before Jest loads any test or
 * solution file) from its one-shot pipe $PHRONOSD_TOKEN_FD, which is then closed: the supervisor
 * drops lines without it, so code under test that writes to the report fd (it can find the number)
 * is ignored. Every event is one write that starts with a newline, so a partial line the code under
 * test left in the pipe ends before it (and is dropped) instead of swallowing it; and a `test` event
 * fits in one atomic pipe write, so a writer in another thread or process cannot cut into it.
 */
const fs = require('fs');

const env = process.env;

/** The job's settings, from the environment (where a pooled harness puts them once they arrive). */
function jobFrom(vars) {
  return Object.freeze({
    mode: vars.PHRONOSD_MODE,
    runs: Number(vars.PHRONOSD_RUNS || 0),
    warmup: vars.PHRONOSD_WARMUP, // a count, or 'auto' (see warmup.js)
    budgetMs: Number(vars.PHRONOSD_BUDGET_MS || 0),
    solutionFile: vars.PHRONOSD_SOLUTION_FILE,
    testFile: vars.PHRONOSD_TEST_FILE,
    options: JSON.parse(vars.PHRONOSD_OPTIONS || '{}'),
    stepFd: vars.PHRONOSD_STEP_FD === undefined ? null : privateStepFd(Number(vars.PHRONOSD_STEP_FD)),
  });
}

/**
 * A compare job's step pipe (handlers/README.md: Compare jobs), opened again through /proc/self/fd
 * (Node opens with O_CLOEXEC: a process the tests start does not inherit it, nor can it take the
 * driver's bytes) and the inherited descriptor closed. A description of our own also keeps the reads
 * blocking whatever another holder of the pipe does to its flags.
 */
function privateStepFd(inherited) {
  const fd = fs.openSync(`/proc/self/fd/${inherited}`, 'r');
  fs.closeSync(inherited);
  return fd;
}

let job = jobFrom(env);

/** The first line of the one-shot pipe `fd`, which is closed after it (read synchronously). */
function readToken(fd) {
  if (!Number.isInteger(fd)) throw new Error('phronosd: PHRONOSD_TOKEN_FD names no pipe');
  const chunk = Buffer.alloc(256);
  let text = '';
  try {
    while (!text.includes('\n')) {
      const count = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (!count) break;
      text += chunk.toString('latin1', 0, count);
    }
  } finally {
    fs.closeSync(fd);
  }
  const token = text.split('\n')[0].trim();
  if (!/^[0-9a-f]+$/.test(token)) throw new Error('phronosd: no report token on PHRONOSD_TOKEN_FD');
  return token;
}

const reportFd = Number(env.PHRONOSD_REPORT_FD);
const linePrefix = `\n${readToken(Number(env.PHRONOSD_TOKEN_FD))} `;
const ATOMIC_WRITE_BYTES = 4096; // PIPE_BUF: a pipe write of at most this size is never interleaved
const TRUNCATED = '\n... (truncated)';
let resultsSent = false;

function line(event, fields) {
  return `${linePrefix}${JSON.stringify({ event, ...fields })}\n`;
}

let quiet = false;

/** Writes one event as a JSON line behind the token; synchronous, so nothing is lost if the process
 *  exits next. Nothing while a pooled harness warms up (`quietly`). */
function emit(event, fields = {}) {
  if (!quiet) fs.writeSync(reportFd, line(event, fields));
}

function fitsOneWrite(text) {
  return Buffer.byteLength(text) <= ATOMIC_WRITE_BYTES;
}

/** A `test` event's line, its message cut (as little as needed) until the line fits in one atomic
 *  write. */
function testLine(result) {
  const whole = line('test', result);
  if (fitsOneWrite(whole) || !result.message) return whole;
  const cut = (keep) => line('test', { ...result, message: result.message.slice(0, keep) + TRUNCATED });
  let [low, high] = [0, result.message.length];
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (fitsOneWrite(cut(middle))) low = middle;
    else high = middle - 1;
  }
  return cut(low);
}

/** Sends the per-test results and `validated` with their count (once: the suite reached its end). */
function sendResults(results) {
  if (quiet) return;
  for (const result of results) fs.writeSync(reportFd, testLine(result));
  emit('validated', { tests: results.length });
  resultsSent = true;
}

/** Runs `action` (async) with the report channel silent: a pooled harness's warm-up suite, before
 *  its job, says nothing. */
async function quietly(action) {
  quiet = true;
  try {
    return await action();
  } finally {
    quiet = false;
  }
}

/** Everything readable from `fd` until its end (read synchronously: the harness has nothing else
 *  to do meanwhile). */
function readAll(fd) {
  const chunks = [];
  const chunk = Buffer.alloc(65536);
  try {
    for (let count; (count = fs.readSync(fd, chunk, 0, chunk.length, null)); ) chunks.push(Buffer.from(chunk.subarray(0, count)));
  } finally {
    fs.closeSync(fd);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A pooled harness (`PHRONOSD_JOB_FD` set; handlers/README.md: the warm pool) has loaded what does not
 * depend on the job: say `ready`, then block until the job's variables arrive on that fd (one JSON
 * object) and put them into the environment. A cold harness has its job already: nothing to do.
 */
function waitForJob() {
  if (env.PHRONOSD_JOB_FD === undefined) return;
  emit('ready');
  const vars = JSON.parse(readAll(Number(env.PHRONOSD_JOB_FD)));
  delete env.PHRONOSD_JOB_FD;
  for (const [name, value] of Object.entries(vars)) {
    if (name.startsWith('PHRONOSD_')) env[name] = String(value);
  }
  job = jobFrom(env);
}

/** Hides the job and the channel's number from the code under test (it still could guess the fd). */
function hideJobVariables() {
  for (const name of Object.keys(env)) {
    if (name.startsWith('PHRONOSD_')) delete env[name];
  }
}

module.exports = {
  get job() {
    return job;
  },
  emit,
  sendResults,
  quietly,
  waitForJob,
  hideJobVariables,
  resultsWereSent: () => resultsSent,
};
