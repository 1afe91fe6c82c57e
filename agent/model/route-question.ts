// The routing question asymroute asks (`ip route get` and the route model answer the same one) and the kernel's
// verdict on it. Sources, analysis and the reply-path check all speak these types, so they live below all of them.

import type { RouteType } from './host-state.js';

/** What a failed route lookup returns, as `ip route get` reports it ('OTHER': an error text not recognised). */
export type KernelErrno = 'ENETUNREACH' | 'EHOSTUNREACH' | 'EACCES' | 'EINVAL' | 'ENODEV' | 'EADDRNOTAVAIL' | 'OTHER';

export interface RouteQuestion {
  dst: string;
  src?: string | null;
  /** ingress interface: makes this an input (received packet) lookup */
  iif?: string | null;
  oif?: string | null;
  mark?: number | null;
}

export type KernelVerdict =
  { ok: true; type: RouteType; dev: string; gateway: string | null } | { ok: false; errno: KernelErrno; message: string };

/** Asks the kernel; null when no kernel is at hand (a saved snapshot). */
export type KernelOracle = (q: RouteQuestion) => Promise<KernelVerdict | null>;
