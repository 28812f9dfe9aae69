// Lint rules that guard the two mistakes Temporal code is most prone to:
// side effects inside workflow code, and un-awaited promises.
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'assert',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.nightshift/**', 'results/**', 'client/bin.js', 'eslint.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A promise passed where a void callback or a condition is expected is never awaited:
      // its rejection is lost and an `if (promise)` is always true.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // A new task status or message kind must be handled wherever the old ones are.
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    // Settings are read once, in common/config.ts (README, "Configuration"); tests and benchmarks set up their own.
    files: ['**/*.ts'],
    ignores: ['common/config.ts', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read settings in common/config.ts; pass the environment on with inheritedEnv().',
        },
      ],
    },
  },
  {
    // Workflow code (and the contract it imports) is replayed: it must be deterministic, so no Node built-ins and no
    // clients that do I/O. Types may still be imported.
    files: ['workflows/**/*.ts', 'contract/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.flatMap((m) => [
              { name: m, message: 'Workflow code must not use Node built-ins.' },
              { name: `node:${m}`, message: 'Workflow code must not use Node built-ins.' },
            ]),
            ...[
              '@anthropic-ai/sdk',
              'octokit',
              'e2b',
              'yaml',
              'dockerode',
              '@temporalio/client',
              '@temporalio/activity',
            ].map((name) => ({
              name,
              message: 'Side-effecting packages belong in activities.',
              allowTypeImports: true,
            })),
          ],
          patterns: [
            {
              group: [
                '../activities',
                '../activities/*',
                '../sandbox',
                '../sandbox/*',
                '../taskfile/load*',
                '../taskfile/normalize*',
                '../../activities',
                '../../activities/*',
                '../../sandbox',
                '../../sandbox/*',
                '../../taskfile/load*',
                '../../taskfile/normalize*',
              ],
              allowTypeImports: true,
              message: 'Workflows see activities only as types.',
            },
          ],
        },
      ],
    },
  },
);
