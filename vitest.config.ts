import { defineConfig } from 'vitest/config';

// pool 'forks': each test file runs in a child process, so a native crash would fail one file
// loudly instead of taking the runner down, and the addon is loaded in a fresh process each time.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
