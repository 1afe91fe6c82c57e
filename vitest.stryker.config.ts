import { defineConfig } from 'vitest/config';

// Stryker's test run: only the pure unit tests (no root, no namespaces, no subprocesses), so a mutant costs seconds
// and two engineers' namespace tests are not started hundreds of times on a shared 2-core machine.
export default defineConfig({
  test: {
    include: [
      'test/analysis/{bgp,flow-matcher,flow-matcher-paths,l2-evidence,reply-path,route-model,route-model-paths,route-model-merged,route-model-answers,model-agrees,model-findings,capture-analysis-v6,vips,netfilter,packet-feed,live-evidence,capture-analysis}.test.ts',
      'test/decoders/{decoders,fast-path,fast-path-fields,link,ip,transport,packet,cursor}.test.ts',
      'test/supervisor/*.test.ts',
      'test/parsers/*.test.ts',
      'test/net/*.test.ts',
    ],
    testTimeout: 60_000,
  },
});
