'use strict';
/**
 * JavaScript entry of the Jest harness. Babel (ES module syntax to CommonJS) is used only when a
 * file under /work uses import/export: loading Babel costs more than the rest of a small run.
 */
const fs = require('fs');
const path = require('path');
const { main, babelTransform, WORK } = require('/opt/phronosd/jest/harness');

const MODULE_SYNTAX = /^[ \t]*(import[ \t]*[\w{*'"]|export[ \t{*])/m;
const SCRIPT_FILE = /\.[cm]?jsx?$/;

function scriptFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return scriptFiles(full);
    return SCRIPT_FILE.test(entry.name) ? [full] : [];
  });
}

function usesModuleSyntax() {
  return scriptFiles(WORK).some((file) => MODULE_SYNTAX.test(fs.readFileSync(file, 'utf8')));
}

const ES_MODULES = { plugins: ['@babel/plugin-transform-modules-commonjs'] };

main(() => (usesModuleSyntax() ? babelTransform('\\.[cm]?jsx?$', ES_MODULES) : {}));
