'use strict';
/**
 * Per-test results read from jest-circus's state at `run_finish`: the same records Jest's own
 * report is built from (status, errors, duration), with failure text formatted by Jest's
 * message formatter, so messages look like Jest's output.
 */
const { formatResultsErrors, formatExecError } = require('jest-message-util');
const { format: prettyFormat } = require('pretty-format');
const { cleanMessage } = require('./messages');

const NAME_SEPARATOR = ' > ';
const SUITE_ERROR_NAME = '(suite)';

/** Tests in declaration order (depth first), as circus runs and reports them. */
function testsOf(block) {
  const tests = [];
  for (const child of block.children) {
    if (child.type === 'test') tests.push(child);
    else tests.push(...testsOf(child));
  }
  return tests;
}

function titlePath(test) {
  const titles = [];
  for (let node = test; node.parent; node = node.parent) titles.unshift(node.name);
  return titles;
}

/** Circus stores errors as `error` or `[error, asyncError]`; a thrown non-Error gets a stack. */
function toError(entry) {
  const [error, asyncError] = Array.isArray(entry) ? entry : [entry, new Error()];
  if (error && (typeof error.stack === 'string' || error.message)) return error;
  asyncError.message = `thrown: ${prettyFormat(error, { maxDepth: 3 })}`;
  return asyncError;
}

function stackOf(error) {
  return typeof error.stack === 'string' ? error.stack : String(error.message);
}

function statusOf(test) {
  if (test.status === 'skip' || test.status === 'todo') return 'skipped';
  return test.errors.length ? 'failed' : 'passed';
}

/** Jest's failure text without the "● name" header line (the name is reported separately). */
function failureText(test, titles, config, testPath) {
  const errors = test.errors.map(toError);
  const text = formatResultsErrors(
    [{ ancestorTitles: titles.slice(0, -1), title: titles.at(-1), fullName: titles.join(' '),
      failureMessages: errors.map(stackOf), failureDetails: errors, status: 'failed' }],
    config, { noStackTrace: false }, testPath,
  );
  return cleanMessage((text || '').replace(/^\s*●[^\n]*\n+/, ''));
}

/** Makes names unique: Jest allows two tests with the same title, the contract does not. */
function uniqueName(name, seen) {
  let candidate = name;
  for (let n = 2; seen.has(candidate); n += 1) candidate = `${name} (${n})`;
  seen.add(candidate);
  return candidate;
}

/** [{test, result}] for every test of the file; `result` is the `test` event's fields. */
function collectResults(state, config, testPath) {
  const seen = new Set();
  const entries = testsOf(state.rootDescribeBlock).map((test) => {
    const titles = titlePath(test);
    const status = statusOf(test);
    let message = null;
    if (status === 'failed') message = failureText(test, titles, config, testPath);
    else if (test.status === 'todo') message = 'todo';
    const name = uniqueName(titles.join(NAME_SEPARATOR), seen);
    return { test, result: { name, status, durationMs: test.duration ?? 0, message } };
  });
  if (state.unhandledErrors.length) entries.push(suiteError(state, config));
  return entries;
}

/** An `afterAll` failure or an error outside any test: Jest fails the file, so we report it. */
function suiteError(state, config) {
  const message = state.unhandledErrors
    .map((entry) => formatExecError(toError(entry), config, { noStackTrace: false }, undefined, true))
    .map((text) => cleanMessage(text.replace(/^\s*●\s*/, '')))
    .join('\n\n');
  return { test: null, result: { name: SUITE_ERROR_NAME, status: 'error', durationMs: 0, message } };
}

module.exports = { collectResults };
