'use strict';
/**
 * Trims Jest's failure text to what a user needs. Jest hides its own frames only under
 * node_modules; Debian installs it under /usr/share/nodejs, so its frames and code frames would show.
 */
const MODULE_WRAPPER = '({"Object.<anonymous>":function(module,exports,require,__dirname,__filename,jest){';
const FOREIGN_FRAME = /^\s*at .*(usr\/share\/nodejs|opt\/phronosd|node:internal|\(<anonymous>\))/;
const CODE_FRAME_LINE = /^\s*(>\s*)?\d*\s+\|/;
const STACK_LINE = /^\s*at /;

/** Removes code frames whose location (the next stack line) is not a user's file, and such frames. */
function dropForeignFrames(lines) {
  const kept = [];
  for (let i = 0; i < lines.length; i += 1) {
    if (!CODE_FRAME_LINE.test(lines[i])) {
      if (!FOREIGN_FRAME.test(lines[i])) kept.push(lines[i]);
      continue;
    }
    let end = i;
    while (end < lines.length && CODE_FRAME_LINE.test(lines[end])) end += 1;
    let next = end;
    while (next < lines.length && !lines[next].trim()) next += 1;
    const location = lines[next] || '';
    if (!(STACK_LINE.test(location) && FOREIGN_FRAME.test(location))) kept.push(...lines.slice(i, end));
    i = end - 1;
  }
  return kept;
}

/** Jest compiles CommonJS inside a one-line wrapper: strip it from the echoed source line and its caret. */
function dropModuleWrapper(lines) {
  return lines.map((line, i) => {
    const previous = lines[i - 1] || '';
    const at = previous.indexOf(MODULE_WRAPPER);
    if (at >= 0 && /^\s*\^+\s*$/.test(line)) return line.slice(0, at) + line.slice(at + MODULE_WRAPPER.length);
    return line.replace(MODULE_WRAPPER, '');
  });
}

function dedent(lines) {
  const indents = lines.filter((line) => line.trim()).map((line) => line.match(/^ */)[0].length);
  const common = indents.length ? Math.min(...indents) : 0;
  return lines.map((line) => line.slice(common));
}

/** A user-facing message: Jest's "Details:" part when it has one, without Jest's own code. */
function cleanMessage(text) {
  const details = text.split(/\n\s*Details:\s*\n/);
  const body = details[details.length - 1];
  const lines = dedent(dropModuleWrapper(dropForeignFrames(body.split('\n'))));
  return lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}

module.exports = { cleanMessage };
