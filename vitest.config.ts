import { defineConfig } from 'vitest/config';

/**
 * The namespace project: files that need root (describeAsRoot: network namespaces, veth pairs, live tcpdump) or start
 * the agent (bin/asymroute serve or demo, startServe). They share the kernel's netns list, interface names and ports,
 * and wait on the agent with deadlines, so they run one file at a time after the unit files. Every other test file is
 * a unit file. test/config/vitest-projects.test.ts checks this list against those markers in each file.
 */
export const NAMESPACE_TESTS = [
  'test/**/*-netns.test.ts',
  'test/scenarios/**/*.test.ts',
  'test/cli/**/*.test.ts',
  'test/analysis/route-model-differential.test.ts',
  'test/analysis/route-model-forward.test.ts',
  'test/chart/alerts.test.ts',
  'test/chart/capabilities.test.ts',
  'test/sources/capture.test.ts',
  'test/sources/child.test.ts',
  'test/sources/live-capture.test.ts',
];

export const TEST_FILES = ['test/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        // One worker per core: vitest's default leaves a core free, which is one worker on the 2-core CI machine.
        test: { name: 'unit', include: TEST_FILES, exclude: NAMESPACE_TESTS, maxWorkers: '100%', sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // One file at a time, and only once the unit files are done.
        test: { name: 'namespace', include: NAMESPACE_TESTS, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
