import { describe, expect, it } from 'vitest';
import { isLoopbackHost, transportOf } from '../../src/net/loopback.js';

describe('isLoopbackHost: where plain HTTP is acceptable', () => {
  const host = (url: string) => new URL(url).hostname;
  const loopback = [
    'http://127.0.0.1:8787/c1',
    'http://127.1/',
    'http://0x7f000001/',
    'http://127.255.0.9/',
    'http://localhost/',
    'http://LOCALHOST./',
    'http://api.localhost/',
    'http://[::1]:80/',
    'http://[0:0:0:0:0:0:0:1]/',
    'http://[::ffff:127.0.0.1]/',
  ];
  const remote = [
    'http://10.0.0.1/',
    'http://128.0.0.1/',
    'http://127.0.0.1.nip.io/',
    'http://localhost.example.com/',
    'http://[::2]/',
    'http://[::ffff:10.0.0.1]/',
    'http://example.com/',
    'http://0.0.0.0/',
    'http://[fe80::1]/',
  ];
  for (const url of loopback)
    it(`${url} is loopback`, () => expect(isLoopbackHost(host(url))).toBe(true));
  for (const url of remote)
    it(`${url} is not loopback`, () => expect(isLoopbackHost(host(url))).toBe(false));
});

describe('transportOf', () => {
  it.each([
    ['https://issuer.example.com/c1', 'https'],
    ['http://127.0.0.1:8787/c1', 'loopback-http'],
    ['http://issuer.example.com/c1', 'plain-http'],
    ['ftp://issuer.example.com/c1', 'invalid'],
    ['issuer.example.com/c1', 'invalid'],
    ['', 'invalid'],
  ])('%s → %s', (url, kind) => expect(transportOf(url).kind).toBe(kind));
});
