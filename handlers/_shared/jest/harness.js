'use strict';
/**
 * Entry of the Jest harness shared by JavaScript and TypeScript: runs Jest in-band in this
 * process through @jest/core (no jest-cli argument parsing), with a harness-owned configuration
 * and the phronosd test environment, which reports results and measures. A file that Jest could not
 * run (syntax error, missing module, no tests) becomes `compile_error` with Jest's message.
 */
const path = require('path');
const report = require('./report');
const { cleanMessage } = require('./messages');

const WORK = '/work';
const CACHE_DIR = '/tmp/jest-cache';

function escapeRegex(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Only the test file runs; only files under /work are transformed (never Jest's own modules). */
function jestConfig(testPath, transform) {
  return {
    rootDir: WORK,
    roots: [WORK],
    cacheDirectory: CACHE_DIR,
    testEnvironment: require.resolve('./environment'),
    testRunner: require.resolve('jest-circus/runner'),
    testRegex: [`^${escapeRegex(testPath)}$`],
    transform,
    transformIgnorePatterns: [`^(?!${escapeRegex(WORK)}/)`],
    watchman: false,
    reporters: [],
    verbose: true,
  };
}

/** What Jest says about a file that did not run to its end. */
function suiteFailure(results) {
  const file = results.testResults[0];
  if (!file) return 'Jest did not find the test file';
  const text = file.failureMessage || (file.testExecError && file.testExecError.message) || '';
  return cleanMessage(text.replace(/^\s*● Test suite failed to run\s*\n+/, '')) || 'the test file did not run';
}

async function runJest(transform) {
  const { runCLI } = require('@jest/core');
  const testPath = path.resolve(WORK, report.job.testFile);
  const argv = {
    $0: 'phronosd',
    _: [testPath],
    config: JSON.stringify(jestConfig(testPath, transform)),
    runInBand: true,
    runTestsByPath: true,
    watchman: false,
  };
  const { results } = await runCLI(argv, [WORK]);
  if (!report.resultsWereSent()) report.emit('compile_error', { message: suiteFailure(results) });
}

/** transform: Jest's `transform` option chosen by the language's entry point. */
function main(transform) {
  report.emit('phase', { name: 'compile' });
  report.hideReportFd();
  runJest(transform).then(
    () => process.exit(0), // like --forceExit: timers left by the code under test must not keep us alive
    (error) => {
      report.emit('error', { message: String(error && error.stack || error) });
      process.exit(1);
    },
  );
}

module.exports = { main, WORK };
