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
    poolable=True,
    conventions=(
        "The solution is saved as solution.js and the tests as solution.test.js; tests load it with "
        "`require('./solution')` or `import ... from './solution'`, and the solution exports with "
        "module.exports or export (ES module syntax is compiled by Babel when a file uses it). "
        "describe/test/it, .each, .skip/.todo, hooks, async and done-callback tests work as in Jest. "
        "Names are the describe path and the test title joined by ' > '. "
        "Jest's and Babel's configuration files (jest.config.*, package.json's jest and babel keys, "
        "babel.config.*, .babelrc, tsconfig.json) are ignored: the harness owns the configuration."
    ),
)
