import { describe, it, expect } from 'vitest';
import { makeConfig, parseListen } from './config.js';

describe('gateway config', () => {
  it('has the documented defaults', () => {
    const c = makeConfig({});
    expect(c.listenHost).toBe('127.0.0.1');
    expect(c.listenPort).toBe(8443);
    expect(c.dataDir.endsWith('.corral')).toBe(true);
    expect(c.dbUrl).toMatch(/^sqlite:.*corral\.db$/);
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('parses listen addresses', () => {
    expect(parseListen('0.0.0.0:9000')).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(() => parseListen('9000')).toThrow(/HOST:PORT/);
  });
  it('names the missing half of the TLS pair', () => {
    expect(() => makeConfig({ tlsCert: 'a.pem' })).toThrow(/--tls-cert and --tls-key/);
  });
  it('refuses an unknown database URL', () => {
    expect(() => makeConfig({ db: 'mysql://x' })).toThrow(/--db/);
  });
});
