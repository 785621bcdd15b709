'use strict';
/**
 * Jest test environment of the phronosd harness: Node's environment, plus jest-circus event
 * handling that reports the results once the file has run to its end (`run_finish`) and, in
 * mode `run`, measures the test bodies right there, while modules, globals and fake timers of the
 * file are still alive (Jest tears them down right after).
 */
const { TestEnvironment: NodeEnvironment } = require('jest-environment-node');
const report = require('./report');
const { collectResults } = require('./results');
const { measure } = require('./measure');

const reallyExit = process.reallyExit;
const ABORT_EXIT_CODE = 1;

/** process.abort() of the code under test, told apart from V8's heap-exhaustion abort (which `launch`
 *  reports as memory_limit): the process ends at once all the same, with a note saying why. */
function abortByTest() {
  report.emit('note', { message: 'the code under test called process.abort(): the test process stopped' });
  reallyExit.call(process, ABORT_EXIT_CODE);
}

/** beforeEach outermost first, afterEach innermost first; none for concurrent tests (as circus). */
function eachHooks(test) {
  const hooks = { beforeEach: [], afterEach: [] };
  if (test.concurrent) return hooks;
  for (let block = test.parent; block; block = block.parent) {
    const before = block.hooks.filter((hook) => hook.type === 'beforeEach');
    hooks.beforeEach.unshift(...before);
    hooks.afterEach.push(...block.hooks.filter((hook) => hook.type === 'afterEach'));
  }
  return hooks;
}

function testCount(block) {
  return block.children.reduce((sum, child) => sum + (child.type === 'test' ? 1 : testCount(child)), 0);
}

class PhronosEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    this.projectConfig = config.projectConfig;
    this.testPath = context.testPath;
    this.bodies = new WeakMap();
    this.global.process.abort = abortByTest;
  }

  async handleTestEvent(event, state) {
    if (event.name === 'add_test') this.rememberBody(event, state);
    else if (event.name === 'run_start') report.emit('phase', { name: 'validate' });
    else if (event.name === 'run_finish') await this.finish(state);
  }

  /** Keeps the body as written: circus replaces `fn` of concurrent tests by their first promise. */
  rememberBody(event, state) {
    const test = state.currentDescribeBlock.children.at(-1);
    if (test && test.type === 'test') this.bodies.set(test, event.fn);
  }

  async finish(state) {
    if (!testCount(state.rootDescribeBlock) && state.unhandledErrors.length) return; // Jest fails the file: compile_error
    const entries = collectResults(state, this.projectConfig, this.testPath);
    report.sendResults(entries.map((entry) => entry.result));
    const passed = entries.filter((entry) => entry.result.status === 'passed');
    const noneFailed = entries.every((entry) => ['passed', 'skipped'].includes(entry.result.status));
    if (report.job.mode === 'run' && noneFailed && passed.length) {
      await measure(passed.map((entry) => this.specOf(entry)), this.global, report.job);
    }
  }

  specOf({ test, result }) {
    return { name: result.name, fn: this.bodies.get(test), failing: test.failing, ...eachHooks(test) };
  }
}

module.exports = PhronosEnvironment;
