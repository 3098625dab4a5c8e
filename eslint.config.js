// Type-checked linting: the checker catches floating promises and unsafe any, which matter
// most in a program whose every path waits on someone else's server.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'bench/node_modules/',
      // Scratch output of the benchmarks (compiled workers, profiles), ignored by git too.
      'bench/results/tmp/',
      'integrations/*/node_modules/',
      'test-artifacts/',
      'src/frontends/http/dashboard/vendor/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['scripts/*.mjs', 'bench/lib/*.mjs', 'test/support/*.mjs', 'eslint.config.js'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // `import * as z from 'zod'`: the named `z` is zod's whole namespace object, which the bundle
      // (scripts/build.mjs) cannot tree-shake, so it would carry all of zod's locales (~360 KB more
      // for every command that validates a config to compile at start-up; issue 14).
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ImportDeclaration[source.value='zod'][importKind='value'] > ImportSpecifier[imported.name='z'][importKind='value']",
          message: "import * as z from 'zod' (the named z drags every zod locale into the bundle)",
        },
      ],
      // A protocol implementation must match control characters on purpose (CR/LF injection, garbage).
      'no-control-regex': 'off',
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // haraka-plugin-cbv is a CommonJS package loaded by Haraka (integrations/haraka).
    files: ['integrations/haraka/**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      parserOptions: { projectService: false, project: false },
      globals: Object.fromEntries(
        ['require', 'module', 'exports', 'setTimeout', 'clearTimeout', 'setImmediate'].map((name) => [
          name,
          'readonly',
        ]),
      ),
    },
    // CommonJS is what Haraka loads: require() is the module system here, not a style choice.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The dashboard runs in the browser, as plain ES modules served by the daemon.
    files: ['src/frontends/http/dashboard/**/*.js'],
    languageOptions: {
      parserOptions: { projectService: false, project: false },
      globals: Object.fromEntries(
        [
          'document',
          'window',
          'localStorage',
          'fetch',
          'console',
          'setInterval',
          'ResizeObserver',
          'Intl',
          'HTMLInputElement',
          'HTMLFormElement',
          'HTMLDialogElement',
          'HTMLElement',
          'Node',
          'Event',
          'encodeURIComponent',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
