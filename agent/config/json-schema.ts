// The config file's JSON Schema (draft-07), derived from the one option schema: what the Helm chart's
// values.schema.json carries under `config`, and what `asymroute config-schema` prints for editors.

import { optionsFor, type Command, type OptionSpec } from './schema.js';

/** keys that make no sense inside the config file itself */
const NOT_IN_FILE = new Set(['config']);

export type JsonSchema = Record<string, unknown>;

function property(o: OptionSpec): JsonSchema {
  const p: JsonSchema = { description: `${o.help} (flag ${o.flag}, env ${o.env})` };
  if (o.type === 'list') Object.assign(p, { type: 'array', items: { type: 'string' } });
  else if (o.type === 'integer') Object.assign(p, { type: 'integer', minimum: o.min, maximum: o.max });
  else if (o.type === 'boolean') p['type'] = 'boolean';
  else p['type'] = o.default === null ? ['string', 'null'] : 'string';
  if (o.choices) p['enum'] = o.choices;
  p['default'] = o.default;
  return p;
}

export function configJsonSchema(cmd: Command): JsonSchema {
  const opts = optionsFor(cmd).filter((o) => !NOT_IN_FILE.has(o.key));
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: `asymroute ${cmd} configuration file`,
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(opts.map((o) => [o.key, property(o)])),
  };
}
