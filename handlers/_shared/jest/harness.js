'use strict';
/**
 * Entry of the Jest harness shared by JavaScript and TypeScript: runs Jest in-band in this
 * process through @jest/core (no jest-cli argument parsing), with a harness-owned configuration
 * and the phronosd test environment, which reports results and measures. A file that Jest could not
 * run (syntax error, missing module, no tests) becomes `compile_error` with Jest's message.
 */
const os = require('os');
const path = require('path');
const report = require('./report');
const { cleanMessage } = require('./messages');

/** The job's folder is the working directory and scratch goes under $TMPDIR: a compare job runs one
 *  harness per solution, each in its own /work/<i>/ with TMPDIR=/tmp/<i>/. */
const WORK = process.cwd();

/** The curated libraries, linked by the image build (`link-libraries`): searched after the job's own
 *  node_modules folders, so `require('lodash')` needs no node_modules in the request. Debian's Jest
 *  also searches /usr/share/nodejs by default (its `moduleDirectories`), where Jest's own dependencies
 *  are: only `node_modules` is kept, so what a solution loads by name is what `libraries` lists. */
const LIBRARIES = '/opt/phronosd/libraries';

/** Jest, its runner and environment, and Babel: what a pooled harness loads before its job. */
const FRAMEWORK = ['@jest/core', 'jest-circus/runner', './environment', 'babel-jest', '@babel/core'];

function escapeRegex(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Only the test file runs; only files under WORK are transformed (never Jest's own modules). */
function jestConfig(testPath, transform) {
  return {
    rootDir: WORK,
    roots: [WORK],
    moduleDirectories: ['node_modules'],
    modulePaths: [LIBRARIES],
    cacheDirectory: path.join(os.tmpdir(), 'jest-cache'),
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

/**
 * Jest's `transform` for files matching `pattern`, by babel-jest with exactly these presets and
 * plugins: Babel reads no configuration from WORK (babel.config.*, .babelrc*, package.json `babel`,
 * .browserslistrc, package.json `browserslist`), so submitted files cannot run code or change the
 * compilation through it.
 */
function babelTransform(pattern, { presets = [], plugins = [] }) {
  const options = {
    babelrc: false,
    configFile: false,
    browserslistConfigFile: false,
    presets: presets.map((name) => require.resolve(name)),
    plugins: plugins.map((name) => require.resolve(name)),
  };
  return { [pattern]: [require.resolve('babel-jest'), options] };
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

/** Loads the framework first when pooled (so the job does not wait for it), then takes the job. */
function takeJob() {
  if (process.env.PHRONOSD_JOB_FD !== undefined) FRAMEWORK.forEach((name) => require(name));
  report.waitForJob();
}

/** chooseTransform: returns Jest's `transform` option; the language's entry point decides it once
 *  the job's files are there. */
function main(chooseTransform) {
  takeJob();
  report.emit('phase', { name: 'compile' });
  report.hideJobVariables();
  runJest(chooseTransform()).then(
    () => process.exit(0), // like --forceExit: timers left by the code under test must not keep us alive
    (error) => {
      report.emit('error', { message: String(error && error.stack || error) });
      process.exit(1);
    },
  );
}

module.exports = { main, babelTransform, WORK };
