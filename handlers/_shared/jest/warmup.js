'use strict';
/**
 * When the warm-up is over: after a fixed count, or with PHRONOSD_WARMUP=auto by the adaptive rule
 * of handlers/README.md (shared with the Java harness): the last WINDOW warm-up times are stable and
 * settled, or CAP warm-up runs were done, or the warm-up spent BUDGET_SHARE of the measuring budget.
 */
const ADAPTIVE = 'auto';
const WINDOW = 10;
const STABLE_SPREAD = 0.05;
const SETTLED_MARGIN = 0.25;
const CAP = 200;
const BUDGET_SHARE = 0.25;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2;
}

/** Robust CV of the last WINDOW times within STABLE_SPREAD, and no trend: their older and newer
 *  halves have medians within STABLE_SPREAD of each other (relative to the window's median). */
function stable(times) {
  if (times.length < WINDOW) return false;
  const window = times.slice(-WINDOW);
  const mid = median(window);
  const mad = median(window.map((t) => Math.abs(t - mid)));
  const trend = Math.abs(median(window.slice(WINDOW / 2)) - median(window.slice(0, WINDOW / 2)));
  return 1.4826 * mad <= STABLE_SPREAD * mid && trend <= STABLE_SPREAD * mid;
}

/** The last WINDOW times' median is within SETTLED_MARGIN of the fastest warm-up so far: steady times
 *  in a tier the JIT is about to replace are not a warmed-up state (see Warmup.java). */
function settled(times) {
  return median(times.slice(-WINDOW)) <= (1 + SETTLED_MARGIN) * Math.min(...times);
}

/** setting: PHRONOSD_WARMUP as given; returns over(times, shareSpent) for the warm-up times so far. */
function warmupRule(setting) {
  if (setting !== ADAPTIVE) {
    const fixed = Number(setting || 0);
    return (times) => times.length >= fixed;
  }
  return (times, shareSpent) => times.length >= CAP || shareSpent || (stable(times) && settled(times));
}

module.exports = { warmupRule, BUDGET_SHARE };
