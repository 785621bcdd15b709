"""TypeScript: Jest in-band in one Node process; Babel strips types (no type check), shared Jest harness."""

from phronosd.languages import ADAPTIVE_WARMUP, Language

HANDLER = Language(
    name="typescript",
    aliases=("ts",),
    runtime="Node.js",
    framework="Jest",
    version_packages={"runtime": "nodejs", "framework": "jest"},
    solution_file="solution.ts",
    test_file="solution.test.ts",
    default_warmup=ADAPTIVE_WARMUP,
    # JavaScript's libraries: types are stripped, never checked, so none needs its type declarations.
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
        "The solution is saved as solution.ts and the tests as solution.test.ts; tests import it with "
        "`import { f } from './solution'`. Types are stripped file by file without a type check, so a "
        "type error does not stop the run; a syntax error does. Jest's globals (describe, test, expect) "
        "need no import. Names are the describe path and the test title joined by ' > '. "
        "The image's libraries (`libraries`) load by name, e.g. `import _ from 'lodash'`, without a "
        "node_modules; with no type check, none needs type declarations. "
        "Jest's and Babel's configuration files (jest.config.*, package.json's jest and babel keys, "
        "babel.config.*, .babelrc, tsconfig.json) are ignored: the harness owns the configuration."
    ),
)
