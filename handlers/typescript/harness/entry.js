'use strict';
/**
 * TypeScript entry of the Jest harness: Babel's TypeScript preset strips types file by file
 * (transpile only, like ts-jest's isolatedModules: a type error does not block the run, a syntax
 * error fails the file) and turns ES module syntax into CommonJS.
 */
const { main, babelTransform } = require('/opt/phronosd/jest/harness');

const TYPESCRIPT = {
  presets: ['@babel/preset-typescript'],
  plugins: ['@babel/plugin-transform-modules-commonjs'],
};

main({ extension: 'ts', transformFor: () => babelTransform('\\.[cm]?[jt]sx?$', TYPESCRIPT) });
