import { describe, expect, it } from 'vitest';
import { httpUrl, normaliseGatewayUrl, wsUrl } from './urls.js';
import { fingerprintsEqual } from './fingerprint.js';

describe('gateway URLs', () => {
  it('normalises and maps https to wss, keeping a path prefix', () => {
    expect(normaliseGatewayUrl('https://gw.example:8443/corral/?x=1#y')).toBe('https://gw.example:8443/corral');
    expect(httpUrl('https://gw.example/corral', '/api/v1/ca')).toBe('https://gw.example/corral/api/v1/ca');
    expect(wsUrl('https://gw.example', '/api/v1/channels/ch%201', { token: 'a+b/c' })).toBe(
      'wss://gw.example/api/v1/channels/ch%201?token=a%2Bb%2Fc',
    );
    expect(wsUrl('http://127.0.0.1:9', '/x')).toBe('ws://127.0.0.1:9/x');
  });

  it('refuses what is not https, or carries credentials', () => {
    expect(() => normaliseGatewayUrl('http://gw.example')).toThrow(/https/);
    expect(() => normaliseGatewayUrl('https://u:p@gw.example')).toThrow(/credentials/);
    expect(() => normaliseGatewayUrl('gw.example')).toThrow(/not a URL/);
    expect(normaliseGatewayUrl('http://127.0.0.1:1', true)).toBe('http://127.0.0.1:1');
  });
});

describe('fingerprints', () => {
  it('compare without case or colons, and only as full SHA-256', () => {
    expect(fingerprintsEqual('AA:BB' + ':CC'.repeat(30), 'aabb' + 'cc'.repeat(30))).toBe(true);
    expect(fingerprintsEqual('AABB', 'aabb')).toBe(false);
  });
});
