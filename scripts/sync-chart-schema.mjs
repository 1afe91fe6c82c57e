// Writes the agent's config schema (the one option schema, as `asymroute config-schema` prints it) into the chart's
// values.schema.json under properties.config.properties. Run after changing an option: npm run sync-chart-schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { URL } from 'node:url';
import { configJsonSchema } from '../dist/agent/config/json-schema.js';

const file = new URL('../charts/asymroute/values.schema.json', import.meta.url);
const schema = JSON.parse(readFileSync(file, 'utf8'));
schema.properties.config.properties = configJsonSchema('serve').properties;
writeFileSync(file, JSON.stringify(schema, null, 2) + '\n');
console.log('charts/asymroute/values.schema.json: config synced with the agent schema');
