// The image's build inputs, named once: the Dockerfile and the build context that test/packaging/dockerfile.test.ts
// checks are the ones the release workflow must build (test/packaging/release-workflow.test.ts).

import { join } from 'node:path';
import { ROOT } from './cli.js';

/** The directory sent to the image build (its .dockerignore applies). */
export const DOCKER_CONTEXT = ROOT.replace(/\/$/, '');
export const DOCKERFILE = join(DOCKER_CONTEXT, 'Dockerfile');
