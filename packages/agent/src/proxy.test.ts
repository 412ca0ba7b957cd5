import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bypassesProxy, openTunnel, parseProxyUrl, proxyFor } from './proxy.js';

describe('proxy settings', () => {
  it('parses http://user:pass@host:port into a Basic Proxy-Authorization, and keeps credentials out of logs', () => {
    const p = parseProxyUrl('http://al%40ice:s3cr%3At@proxy.example:3128');
    expect(p).toMatchObject({ host: 'proxy.example', port: 3128, display: 'http://proxy.example:3128' });
    expect(Buffer.from(p.authorization!.slice('Basic '.length), 'base64').toString()).toBe('al@ice:s3cr:t');
    expect(parseProxyUrl('proxy:8080')).toMatchObject({ host: 'proxy', port: 8080 });
    expect(parseProxyUrl('http://[::1]:3128').host).toBe('::1');
  });

  it('refuses https:// and socks proxies with a clear message', () => {
    expect(() => parseProxyUrl('https://proxy:443')).toThrow(/only http:\/\/ proxies/);
    expect(() => parseProxyUrl('socks5://proxy:1080')).toThrow(/only http:\/\/ proxies/);
  });

  it.each([
    ['gw.example.com', 443, 'gw.example.com', true],
    ['gw.example.com', 443, 'example.com', true],
    ['gw.example.com', 443, '.example.com', true],
    ['example.com', 443, '.example.com', true],
    ['gw.example.com', 443, '*.example.com', true],
    ['notexample.com', 443, 'example.com', false],
    ['gw.example.com', 443, 'other.com, gw.example.com', true],
    ['gw.example.com', 443, 'gw.example.com:8443', false],
    ['gw.example.com', 8443, 'gw.example.com:8443', true],
    ['10.1.2.3', 443, '10.1.2.3', true],
    ['::1', 443, '[::1]:443', true],
    ['anything', 443, '*', true],
    ['gw.example.com', 443, '', false],
  ])('NO_PROXY: %s:%i with "%s" -> %s', (host, port, noProxy, expected) => {
    expect(bypassesProxy(host, port, noProxy)).toBe(expected);
  });

  it('--proxy wins over HTTPS_PROXY; NO_PROXY still exempts', () => {
    expect(proxyFor('https://gw:8443', { explicit: 'http://a:1', httpsProxy: 'http://b:2' })?.host).toBe('a');
    expect(proxyFor('https://gw:8443', { httpsProxy: 'http://b:2' })?.host).toBe('b');
    expect(proxyFor('https://gw:8443', { httpsProxy: 'http://b:2', noProxy: 'gw' })).toBeUndefined();
    expect(proxyFor('https://gw:8443', {})).toBeUndefined();
  });
});

describe('CONNECT tunnel', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A proxy that answers CONNECT with `status` and echoes bytes afterwards; records the request head. */
  async function proxy(status: string): Promise<{ port: number; heads: string[] }> {
    const heads: string[] = [];
    server = createServer((sock) => {
      let buf = '';
      const onData = (d: Buffer): void => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        sock.off('data', onData);
        heads.push(buf);
        sock.write(`HTTP/1.1 ${status}\r\n\r\n`);
        if (status.startsWith('200')) sock.pipe(sock);
        else sock.end();
      };
      sock.on('data', onData);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const addr = server.address();
    return { port: typeof addr === 'object' && addr ? addr.port : 0, heads };
  }

  it('sends CONNECT host:port with Proxy-Authorization and hands over the raw socket', async () => {
    const p = await proxy('200 Connection established');
    const sock = await openTunnel(parseProxyUrl(`http://u:p@127.0.0.1:${p.port}`), 'gw.internal', 8443);
    sock.write('ping');
    const echoed = await new Promise<string>((r) => sock.once('data', (d: Buffer) => r(d.toString())));
    sock.destroy();
    expect(echoed).toBe('ping');
    expect(p.heads[0]).toMatch(/^CONNECT gw\.internal:8443 HTTP\/1\.1\r\n/);
    expect(p.heads[0]!.toLowerCase()).toContain(
      `proxy-authorization: basic ${Buffer.from('u:p').toString('base64')}`.toLowerCase(),
    );
  });

  it('says what to do when the proxy wants credentials (407)', async () => {
    const p = await proxy('407 Proxy Authentication Required');
    await expect(openTunnel(parseProxyUrl(`http://127.0.0.1:${p.port}`), 'gw', 443)).rejects.toThrow(
      /407.*--proxy http:\/\/user:pass@host:port/,
    );
  });
});
