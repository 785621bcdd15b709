'use strict';
/**
 * The report channel (fd $PHRONOSD_REPORT_FD) and the job settings, shared by the harness entry
 * point and the test environment: Jest loads the environment with Node's own `require`, so both
 * get this one module instance.
 */
const fs = require('fs');

const env = process.env;

const job = Object.freeze({
  mode: env.PHRONOSD_MODE,
  runs: Number(env.PHRONOSD_RUNS || 0),
  warmup: env.PHRONOSD_WARMUP, // a count, or 'auto' (see warmup.js)
  budgetMs: Number(env.PHRONOSD_BUDGET_MS || 0),
  solutionFile: env.PHRONOSD_SOLUTION_FILE,
  testFile: env.PHRONOSD_TEST_FILE,
  options: JSON.parse(env.PHRONOSD_OPTIONS || '{}'),
});

const reportFd = Number(env.PHRONOSD_REPORT_FD);
let resultsSent = false;

/** Writes one event as a JSON line; synchronous, so nothing is lost if the process exits next. */
function emit(event, fields = {}) {
  fs.writeSync(reportFd, JSON.stringify({ event, ...fields }) + '\n');
}

/** Sends the per-test results and `validated` (once: the suite reached its end). */
function sendResults(results) {
  for (const result of results) emit('test', result);
  emit('validated');
  resultsSent = true;
}

/** Hides the channel's number from the code under test (it still could guess the fd). */
function hideReportFd() {
  for (const name of Object.keys(env)) {
    if (name.startsWith('PHRONOSD_')) delete env[name];
  }
}

module.exports = { job, emit, sendResults, hideReportFd, resultsWereSent: () => resultsSent };
