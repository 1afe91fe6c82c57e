// Module hooks that append every resolved import URL to $ASYMROUTE_IMPORT_LOG: which packages a command loads.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (process.env.ASYMROUTE_IMPORT_LOG) appendFileSync(process.env.ASYMROUTE_IMPORT_LOG, `${r.url}\n`);
  return r;
}
