'use strict';
/**
 * JavaScript entry of the Jest harness. Babel (ES module syntax to CommonJS) is used only when a
 * file of the job's folder uses import/export: loading Babel costs more than the rest of a small run.
 */
const fs = require('fs');
const { main, babelTransform, sourceFiles } = require('/opt/phronosd/jest/harness');

const MODULE_SYNTAX = /^[ \t]*(import[ \t]*[\w{*'"]|export[ \t{*])/m;
const SCRIPT_FILE = /\.[cm]?jsx?$/;

function usesModuleSyntax(folder) {
  return sourceFiles(folder, SCRIPT_FILE).some((file) => MODULE_SYNTAX.test(fs.readFileSync(file, 'utf8')));
}

const ES_MODULES = { plugins: ['@babel/plugin-transform-modules-commonjs'] };

main({
  extension: 'js',
  transformFor: (folder) => (usesModuleSyntax(folder) ? babelTransform('\\.[cm]?jsx?$', ES_MODULES) : {}),
});
