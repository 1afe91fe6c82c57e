// The bounds-checked byte view every decoder reads through: its limits and each reader on known bytes.

import { expect, it } from 'vitest';
import { at, available, cursor, fail, ipv4Text, ipv6Text, macText, u16, u32, u32le, u8 } from '../../agent/decoders/cursor.js';

const BUF = Uint8Array.from([
  0x00, 0xfe, 0x81, 0x42, 0x07, 0xc3, 0x0a, 0x5b, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40,
]);

it('a cursor ends at the captured end, never past the buffer; a sub-cursor never past its parent', () => {
  expect(cursor(BUF)).toEqual({ buf: BUF, off: 0, end: 24 });
  expect(cursor(BUF, 2, 10)).toEqual({ buf: BUF, off: 2, end: 10 });
  expect(cursor(BUF, 2, 99)).toEqual({ buf: BUF, off: 2, end: 24 });
  const c = cursor(BUF, 1, 12);
  expect(at(c, 4)).toEqual({ buf: BUF, off: 4, end: 12 });
  expect(at(c, 4, 8)).toEqual({ buf: BUF, off: 4, end: 8 });
  expect(at(c, 4, 20)).toEqual({ buf: BUF, off: 4, end: 12 });
  expect([available(c), available(at(c, 12)), available(at(c, 14))]).toEqual([11, 0, -2]);
});

it('reads bytes relative to the cursor: unsigned 8, 16 and 32 bits in both byte orders', () => {
  const c = cursor(BUF, 1);
  expect([u8(c, 0), u8(c, 1), u16(c, 0), u16(c, 1)]).toEqual([0xfe, 0x81, 0xfe81, 0x8142]);
  expect([u32(c, 0), u32(c, 4), u32le(c, 0), u32le(c, 3)]).toEqual([0xfe814207, 0xc30a5b20, 0x074281fe, 0x5b0ac307]);
  expect([u32(cursor(BUF, 0), 0), u32le(cursor(BUF, 0), 0)]).toEqual([0x00fe8142, 0x4281fe00]);
});

it('formats addresses at an offset: dotted quad, RFC 5952 IPv6, MAC in two-digit lower-case hex of any length', () => {
  const c = cursor(BUF, 2);
  expect(ipv4Text(c, 1)).toBe('66.7.195.10');
  expect(ipv6Text(cursor(BUF, 8), 0)).toBe('2001:db8::240');
  expect(macText(c, 0)).toBe('81:42:07:c3:0a:5b');
  expect(macText(c, 2, 3)).toBe('07:c3:0a');
});

it('a failure names its layer, reason and detail', () => {
  expect(fail('udp', 'malformed', 'length 7')).toEqual({ ok: false, layer: 'udp', reason: 'malformed', detail: 'length 7' });
});
