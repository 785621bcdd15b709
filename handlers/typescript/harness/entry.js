'use strict';
/**
 * TypeScript entry of the Jest harness: Babel's TypeScript preset strips types file by file
 * (transpile only, like ts-jest's isolatedModules: a type error does not block the run, a syntax
 * error fails the file) and turns ES module syntax into CommonJS.
 */
const { main } = require('/opt/phronosd/jest/harness');

function babelTypeScript() {
  const options = {
    babelrc: false,
    configFile: false,
    presets: [require.resolve('@babel/preset-typescript')],
    plugins: [require.resolve('@babel/plugin-transform-modules-commonjs')],
  };
  return { '\\.[cm]?[jt]sx?$': [require.resolve('babel-jest'), options] };
}

main(babelTypeScript());
