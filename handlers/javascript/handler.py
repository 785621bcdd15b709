"""JavaScript: Jest in-band in one Node process, with the shared Jest harness (handlers/_shared/jest)."""

from phronosd.languages import ADAPTIVE_WARMUP, Language

HANDLER = Language(
    name="javascript",
    aliases=("js", "node", "nodejs"),
    runtime="Node.js",
    framework="Jest",
    version_packages={"runtime": "nodejs", "framework": "jest"},
    solution_file="solution.js",
    test_file="solution.test.js",
    default_warmup=ADAPTIVE_WARMUP,
    # Linked into /opt/phronosd/libraries at build time (_shared/jest/link-libraries), Jest's modulePaths.
    libraries={
        "lodash": "node-lodash",
        "js-sdsl": "node-js-sdsl",
        "bignumber.js": "node-bignumber",
        "immutable": "node-immutable",
        "d3-array": "node-d3-array",
    },
    poolable=True,
    comparable=True,
    conventions=(
        "The solution is saved as solution.js and the tests as solution.test.js; tests load it with "
        "`require('./solution')` or `import ... from './solution'`, and the solution exports with "
        "module.exports or export (ES module syntax is compiled by Babel when a file uses it). "
        "describe/test/it, .each, .skip/.todo, hooks, async and done-callback tests work as in Jest. "
        "Names are the describe path and the test title joined by ' > '. "
        "The image's libraries (`libraries`) load by name, e.g. `require('lodash')`, without a node_modules. "
        "Jest's and Babel's configuration files (jest.config.*, package.json's jest and babel keys, "
        "babel.config.*, .babelrc, tsconfig.json) are ignored: the harness owns the configuration."
    ),
)
