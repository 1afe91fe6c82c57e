// A bounds-checked view of captured bytes: every read is checked against what was captured (`end`), never
// against a length field in the packet. Decoders return typed failures instead of throwing.

import { formatV6Groups } from '../net/ip.js';

export type Layer = 'link' | 'ipv4' | 'ipv6' | 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'arp';

/** Why a packet could not be decoded: bounded enum, usable as a metric label. */
export type FailureReason = 'truncated' | 'malformed' | 'unsupported';

export interface DecodeFailure {
  ok: false;
  layer: Layer;
  reason: FailureReason;
  detail: string;
}

export interface Cursor {
  readonly buf: Uint8Array;
  /** first byte of this layer */
  readonly off: number;
  /** one past the last captured byte available to this layer */
  readonly end: number;
}

export function cursor(buf: Uint8Array, off = 0, end = buf.length): Cursor {
  return { buf, off, end: Math.min(end, buf.length) };
}

export function at(c: Cursor, off: number, end = c.end): Cursor {
  return { buf: c.buf, off, end: Math.min(end, c.end) };
}

export function available(c: Cursor): number {
  return c.end - c.off;
}

export function fail(layer: Layer, reason: FailureReason, detail: string): DecodeFailure {
  return { ok: false, layer, reason, detail };
}

// Callers check available() first; these only read.
export function u8(c: Cursor, i: number): number {
  return c.buf[c.off + i]!;
}

export function u16(c: Cursor, i: number): number {
  const o = c.off + i;
  return (c.buf[o]! << 8) | c.buf[o + 1]!;
}

export function u32(c: Cursor, i: number): number {
  const o = c.off + i;
  return ((c.buf[o]! << 24) >>> 0) + ((c.buf[o + 1]! << 16) | (c.buf[o + 2]! << 8) | c.buf[o + 3]!);
}

export function u32le(c: Cursor, i: number): number {
  const o = c.off + i;
  return ((c.buf[o + 3]! << 24) >>> 0) + ((c.buf[o + 2]! << 16) | (c.buf[o + 1]! << 8) | c.buf[o]!);
}

export function ipv4Text(c: Cursor, i: number): string {
  const o = c.off + i;
  const b = c.buf;
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 text of 16 bytes. */
export function ipv6Text(c: Cursor, i: number): string {
  const o = c.off + i;
  const g: number[] = new Array(8);
  for (let k = 0; k < 8; k++) g[k] = (c.buf[o + 2 * k]! << 8) | c.buf[o + 2 * k + 1]!;
  return formatV6Groups(g);
}

export function macText(c: Cursor, i: number, len = 6): string {
  const parts: string[] = [];
  for (let k = 0; k < len; k++) parts.push(c.buf[c.off + i + k]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}
