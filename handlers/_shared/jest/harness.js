'use strict';
/**
 * Entry of the Jest harness shared by JavaScript and TypeScript: runs Jest in-band in this
 * process through @jest/core (no jest-cli argument parsing), with a harness-owned configuration
 * and the phronosd test environment, which reports results and measures. A file that Jest could not
 * run (syntax error, missing module, no tests) becomes `compile_error` with Jest's message.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const report = require('./report');
const { cleanMessage } = require('./messages');

/** The job's folder is the working directory and scratch goes under $TMPDIR: a compare job runs one
 *  harness per solution, each in folders of its own (under /work and, as TMPDIR, /tmp). */
const WORK = process.cwd();

/** The curated libraries, linked by the image build (`link-libraries`): searched after the job's own
 *  node_modules folders, so `require('lodash')` needs no node_modules in the request. Debian's Jest
 *  also searches /usr/share/nodejs by default (its `moduleDirectories`), where Jest's own dependencies
 *  are: only `node_modules` is kept, so what a solution loads by name is what `libraries` lists. */
const LIBRARIES = '/opt/phronosd/libraries';

/**
 * Globals that code in Jest's sandbox (a `vm` context) reads through Node's context interceptors: on
 * Node 20 about 1.5 µs a read, and V8 cannot optimise the code around it (a `Math.imul` loop ran at
 * 1.2 µs a step in Jest, 1.3 ns in plain Node or with `Math` a local variable). Jest passes those
 * named in `sandboxInjectedGlobals` to every module as parameters of its wrapper function: read as
 * local variables, at full speed. A module then keeps the object it was given, so a global that Jest
 * replaces while tests run stays out: `Date` (fake timers' `setSystemTime` swaps it).
 */
const FAST_GLOBALS = [
  'Math', 'JSON', 'Number', 'String', 'Boolean', 'Array', 'Object', 'Map', 'Set', 'WeakMap', 'WeakSet',
  'BigInt', 'Symbol', 'Promise', 'Error', 'TypeError', 'RangeError', 'RegExp', 'Reflect',
  'ArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
  'parseInt', 'parseFloat', 'isNaN', 'isFinite',
];
const SOURCE_FILE = /\.[cm]?[jt]sx?$/;

/** The files under `folder` whose names match `pattern`, recursively. */
function sourceFiles(folder, pattern = SOURCE_FILE) {
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(full, pattern);
    return pattern.test(entry.name) ? [full] : [];
  });
}

/** Every mention of `name` in `text` is a use of the global: followed by `.` or `(`, or after `new`. */
function onlyUsed(text, name) {
  for (const mention of text.matchAll(new RegExp(`(?<![\\w$.])${name}(?![\\w$])`, 'g'))) {
    const after = text.slice(mention.index + name.length);
    const before = text.slice(Math.max(0, mention.index - 8), mention.index);
    if (!/^\s*[.(]/.test(after) && !/\bnew\s+$/.test(before)) return false;
  }
  return true;
}

/** FAST_GLOBALS that can be injected into the modules of `folder`: a parameter named like a module's
 *  own top-level `let`, `const` or `class` is a SyntaxError, so a name mentioned in any other way
 *  (a declaration, a type annotation, an object key) is left out, and read the slow way. */
function injectableGlobals(folder) {
  const text = sourceFiles(folder).map((file) => fs.readFileSync(file, 'utf8')).join('\n');
  return FAST_GLOBALS.filter((name) => onlyUsed(text, name));
}

/** A pooled harness's warm-up suite (written under $TMPDIR, run silently before `ready`, then removed):
 *  ES module syntax (Babel's path in both languages), hooks, `.each`, the common matchers, an async
 *  test. Valid JavaScript and TypeScript alike. */
const WARM_UP_SOLUTION = 'export function add(a, b) {\n  return a + b;\n}\n';
const WARM_UP_TESTS = `import { add } from './warm-up';

describe('warm-up', () => {
  let seen = [];
  beforeEach(() => { seen = []; });
  test('toBe', () => { expect(add(1, 2)).toBe(3); });
  test('toEqual', () => { seen.push(add(1, 1)); expect({ seen }).toEqual({ seen: [2] }); });
  test.each([[1, 2], [2, 4]])('each %i', (a, b) => { expect(add(a, a)).toBe(b); });
  test('toThrow', () => { expect(() => { throw new Error('x'); }).toThrow('x'); });
  test('async', async () => { await expect(Promise.resolve(add(2, 2))).resolves.toBe(4); });
});
`;

function escapeRegex(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Only the test file runs; only files under `work` are transformed (never Jest's own modules). */
function jestConfig(work, testPath, transform, cacheDirectory) {
  return {
    rootDir: work,
    roots: [work],
    moduleDirectories: ['node_modules'],
    modulePaths: [LIBRARIES],
    cacheDirectory,
    testEnvironment: require.resolve('./environment'),
    testRunner: require.resolve('jest-circus/runner'),
    testRegex: [`^${escapeRegex(testPath)}$`],
    transform,
    transformIgnorePatterns: [`^(?!${escapeRegex(work)}/)`],
    sandboxInjectedGlobals: injectableGlobals(work),
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

/** Jest's run of the test file `testPath` of the folder `work`: its aggregated results. */
async function runJest(work, testPath, transform, cacheDirectory) {
  const { runCLI } = require('@jest/core');
  const argv = {
    $0: 'phronosd',
    _: [testPath],
    config: JSON.stringify(jestConfig(work, testPath, transform, cacheDirectory)),
    runInBand: true,
    runTestsByPath: true,
    watchman: false,
  };
  const { results } = await runCLI(argv, [work]);
  return results;
}

async function runJob(language) {
  const testPath = path.resolve(WORK, report.job.testFile);
  const cacheDirectory = path.join(os.tmpdir(), 'jest-cache');
  const results = await runJest(WORK, testPath, language.transformFor(WORK), cacheDirectory);
  if (!report.resultsWereSent()) report.emit('compile_error', { message: suiteFailure(results) });
}

/** Runs `action` (async) with this process's stdout and stderr writers silenced. */
async function silenced(action) {
  const saved = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = () => true;
  process.stderr.write = () => true;
  try {
    return await action();
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  }
}

/**
 * A pooled harness, before `ready`: runs the warm-up suite through Jest exactly as a job's suite
 * runs (configuration, haste map, resolver, Babel, runtime and test environment, circus, expect), with
 * nothing reported or printed, in a folder of its own under $TMPDIR with its own cache, removed after.
 * The job then finds Jest's lazily loaded modules loaded and its code compiled by V8's JIT.
 */
async function warmUp(language) {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'phronosd-warm-up-'));
  const testPath = path.join(folder, `warm-up.test.${language.extension}`);
  try {
    fs.writeFileSync(path.join(folder, `warm-up.${language.extension}`), WARM_UP_SOLUTION);
    fs.writeFileSync(testPath, WARM_UP_TESTS);
    const transform = language.transformFor(folder);
    await report.quietly(() => silenced(() => runJest(folder, testPath, transform, path.join(folder, 'cache'))));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** Warms up first when pooled (so the job does not wait for it), then takes the job. */
async function takeJob(language) {
  if (process.env.PHRONOSD_JOB_FD !== undefined) await warmUp(language);
  report.waitForJob();
}

/**
 * language: { extension } of its test files, and transformFor(folder), which returns Jest's
 * `transform` option for the files in `folder` (the job's is decided once its files are there).
 */
function main(language) {
  takeJob(language)
    .then(() => {
      report.emit('phase', { name: 'compile' });
      report.hideJobVariables();
      return runJob(language);
    })
    .then(
      () => process.exit(0), // like --forceExit: timers left by the code under test must not keep us alive
      (error) => {
        report.emit('error', { message: String(error && error.stack || error) });
        process.exit(1);
      },
    );
}

module.exports = { main, babelTransform, sourceFiles };
