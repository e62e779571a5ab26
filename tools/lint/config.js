// The project's ESLint rules, kept beside the ESLint install that can load them: typescript-eslint
// needs TypeScript's JS API (6.0) while the project compiles with TypeScript 7, which has none.
// First: every later `typescript` import must get the 6.0 API.
import './typescript-6.cjs';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Globals of Node scripts (bin/, bench/*.mjs): plain JS gets no type information. */
const NODE_GLOBALS = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'fetch',
    'performance',
  ].map((name) => [name, 'readonly']),
);

/** `recommended` plus the type-aware rules that catch real bugs: lost promises and wrong awaits. */
export function idbridgeLint(rootDir) {
  return defineConfig(
    {
      ignores: [
        'dist/',
        'dist-worker/',
        'node_modules/',
        '**/node_modules/',
        '.wrangler/',
        'bench/results/',
        'data/',
      ],
    },
    js.configs.recommended,
    tseslint.configs.recommended,
    {
      files: ['**/*.ts'],
      languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: rootDir } },
      rules: {
        '@typescript-eslint/no-floating-promises': 'error',
        '@typescript-eslint/no-misused-promises': 'error',
        '@typescript-eslint/await-thenable': 'error',
        '@typescript-eslint/consistent-type-imports': [
          'error',
          { fixStyle: 'inline-type-imports' },
        ],
        // `const { secret: _secret, ...rest } = value` drops a member on purpose.
        '@typescript-eslint/no-unused-vars': [
          'error',
          {
            argsIgnorePattern: '^_',
            varsIgnorePattern: '^_',
            destructuredArrayIgnorePattern: '^_',
            ignoreRestSiblings: true,
          },
        ],
      },
    },
    {
      // Tests read untyped YAML and JSON, match terminal output (ANSI escapes, aligned columns).
      files: ['test/**/*.ts'],
      rules: {
        '@typescript-eslint/no-explicit-any': 'off',
        'no-control-regex': 'off',
        'no-regex-spaces': 'off',
      },
    },
    {
      files: ['**/*.js', '**/*.mjs'],
      languageOptions: { globals: NODE_GLOBALS },
    },
    {
      files: ['**/*.cjs'],
      languageOptions: {
        sourceType: 'commonjs',
        globals: { ...NODE_GLOBALS, require: 'readonly', __dirname: 'readonly' },
      },
      rules: { '@typescript-eslint/no-require-imports': 'off' },
    },
  );
}
