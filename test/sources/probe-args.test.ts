// Values that become arguments of arping and ss are validated first: nothing can be read as an option or keyword.

import { expect, it } from 'vitest';
import { arpingArgs, ndiscArgs } from '../../agent/l2/probe.js';
import { ssArgs } from '../../agent/bgp/ss.js';
import { InvalidArgumentError } from '../../agent/sources/validate.js';

it('builds arping arguments from a canonical IPv4 address and an interface name', () => {
  expect(arpingArgs('192.168.1.240', 'eth1')).toEqual(['-b', '-c', '3', '-w', '4', '-I', 'eth1', '192.168.1.240']);
});

it.each([
  ['an option as the address', '-D', 'eth1', 3],
  ['a zero-padded (octal-looking) address', '192.168.01.240', 'eth1', 3],
  ['an IPv6 address (arping is ARP only)', '2001:db8::1', 'eth1', 3],
  ['an option as the interface', '192.168.1.240', '-f', 3],
  ['shell text as the interface', '192.168.1.240', 'eth1;reboot', 3],
  ['too many probes', '192.168.1.240', 'eth1', 50],
])('refuses %s', (_n, ip, iface, count) => {
  expect(() => arpingArgs(ip, iface, count)).toThrow(InvalidArgumentError);
});

it('builds the ss filter from a port number only', () => {
  expect(ssArgs(179)).toEqual(['-H', '-t', '-a', '-n', 'sport = :179 or dport = :179']);
  expect(() => ssArgs(0)).toThrow(InvalidArgumentError);
  expect(() => ssArgs(1.5)).toThrow(InvalidArgumentError);
});

it('builds ndisc6 arguments from a canonical IPv6 address, and refuses anything else', () => {
  expect(ndiscArgs('2001:DB8:1:0::240', 'eth1')).toEqual(['-m', '-n', '-r', '3', '-w', '1000', '2001:db8:1::240', 'eth1']);
  expect(() => ndiscArgs('192.168.1.240', 'eth1')).toThrow(InvalidArgumentError);
  expect(() => ndiscArgs('-h', 'eth1')).toThrow(InvalidArgumentError);
  expect(() => ndiscArgs('2001:db8::1', '--verbose')).toThrow(InvalidArgumentError);
});
