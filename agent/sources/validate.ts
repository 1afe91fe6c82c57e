// Validation of every value that is passed to a subprocess. Values always go as argv entries, never through a shell;
// these checks make sure an argument cannot be read as an option or a keyword by the tool receiving it.

import { isIfname } from '../net/ifname.js';
import { canonicalIp } from '../net/ip.js';

export class InvalidArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

export function validateIfname(name: string): string {
  if (!isIfname(name)) {
    throw new InvalidArgumentError(
      `invalid interface name ${JSON.stringify(name)}: expected 1-15 characters of [A-Za-z0-9_.@-], not starting with '-' or '.'`,
    );
  }
  return name;
}

export function validateIp(s: string): string {
  const c = typeof s === 'string' ? canonicalIp(s) : null;
  if (c === null) throw new InvalidArgumentError(`invalid IP address ${JSON.stringify(s)}`);
  return c;
}

export function validateMark(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new InvalidArgumentError(`invalid fwmark ${JSON.stringify(n)}: expected an integer 0..0xffffffff`);
  }
  return n;
}

// Network namespace names become file names under /run/netns.
const NETNS = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function validateNetnsName(name: string): string {
  if (typeof name !== 'string' || !NETNS.test(name)) {
    throw new InvalidArgumentError(`invalid network namespace name ${JSON.stringify(name)}`);
  }
  return name;
}
