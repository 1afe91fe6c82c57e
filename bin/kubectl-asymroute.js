#!/usr/bin/env node
// kubectl plugin: `kubectl asymroute [options]` runs `asymroute cluster [options]` (kubectl finds kubectl-* on PATH).
import { main } from '../dist/agent/main.js';

const args = process.argv.slice(2);
process.exitCode = await main(args[0] === 'cluster' || args[0] === '--version' ? args : ['cluster', ...args]);
