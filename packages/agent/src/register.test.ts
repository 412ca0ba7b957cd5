import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateAgentKeyPair, loadEd25519Key } from './agent-keys.js';
import { AgentError } from './errors.js';
import type { GatewayHttp, TlsTrust } from './gateway-http.js';
import { certFingerprint } from './fingerprint.js';
import { parseTags, registerAgent, sanitiseServerName, type RegisterOptions } from './register.js';
import { collectSystemInfo } from './sysinfo.js';
import { parseAgentConfig } from './config.js';

const CA = readFileSync(new URL('../test/fixtures/test-ca.pem', import.meta.url), 'utf8');
const FP = certFingerprint(CA);
const GATEWAY_KEY = generateAgentKeyPair().publicKeyPem;

function fakeHttp(
  answer: unknown = { agentId: 'agt_1', serverId: 'srv_1', serverName: 'web-01', gatewaySigningKey: GATEWAY_KEY },
) {
  const calls: { method: string; url: string; body?: unknown; trust: TlsTrust }[] = [];
  const http: GatewayHttp = {
    getText: async (url, trust) => {
      calls.push({ method: 'GET', url, trust });
      return CA;
    },
    postJson: async (url, body, trust) => {
      calls.push({ method: 'POST', url, body, trust });
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { http, calls };
}

function opts(over: Partial<RegisterOptions> = {}): RegisterOptions {
  return {
    gatewayUrl: 'https://gw.example:8443',
    token: 'jt_secret',
    hostname: 'web-01.example.com',
    system: collectSystemInfo(),
    http: fakeHttp().http,
    ...over,
  };
}

describe('registration', () => {
  it('pins the CA by fingerprint, then registers over verified TLS and returns a valid config', async () => {
    const { http, calls } = fakeHttp();
    const config = await registerAgent(
      opts({ http, caFingerprint: FP.toLowerCase().replace(/:/g, ''), tags: { env: 'prod' } }),
    );
    expect(calls[0]).toEqual({ method: 'GET', url: 'https://gw.example:8443/api/v1/ca', trust: { insecure: true } });
    expect(calls[1]!.url).toBe('https://gw.example:8443/api/v1/agent/register');
    expect(calls[1]!.trust).toEqual({ caPem: CA });
    const body = calls[1]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ token: 'jt_secret', name: 'web-01.example.com', tags: { env: 'prod' } });
    expect(loadEd25519Key(body.publicKey as string, 'public', 'publicKey').asymmetricKeyType).toBe('ed25519');
    expect(config).toMatchObject({
      version: 1,
      agentId: 'agt_1',
      serverId: 'srv_1',
      caPem: CA,
      caFingerprint: FP,
      gatewaySigningKeyPem: GATEWAY_KEY,
    });
    expect(() => parseAgentConfig(config)).not.toThrow();
  });

  it('security: refuses a CA whose fingerprint differs from --ca-fingerprint, before sending the token', async () => {
    const { http, calls } = fakeHttp();
    await expect(registerAgent(opts({ http, caFingerprint: 'AB'.repeat(32) }))).rejects.toMatchObject({
      code: 'CA_FINGERPRINT_MISMATCH',
    });
    expect(calls.map((c) => c.method)).toEqual(['GET']);
  });

  it('security: without --ca-fingerprint and no TTY, refuses and tells to pass --ca-fingerprint', async () => {
    const { http, calls } = fakeHttp();
    const err = await registerAgent(opts({ http })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).message).toMatch(/pass --ca-fingerprint/);
    expect(calls).toHaveLength(1);
  });

  it('asks a person on a TTY, and stops when they say no', async () => {
    const seen: string[] = [];
    await expect(
      registerAgent(opts({ confirmFingerprint: async (fp) => (seen.push(fp), false) })),
    ).rejects.toMatchObject({
      code: 'CA_NOT_TRUSTED',
    });
    expect(seen).toEqual([FP]);
    await expect(registerAgent(opts({ confirmFingerprint: async () => true }))).resolves.toMatchObject({
      agentId: 'agt_1',
    });
  });

  it('passes gateway errors through with their code', async () => {
    const { http } = fakeHttp(
      new AgentError('JOIN_TOKEN_INVALID', 'join token is invalid, expired, revoked or used up', 401),
    );
    await expect(registerAgent(opts({ http, caFingerprint: FP }))).rejects.toMatchObject({
      code: 'JOIN_TOKEN_INVALID',
      status: 401,
    });
  });

  it('refuses a registration answer without an Ed25519 gateway key', async () => {
    const { http } = fakeHttp({ agentId: 'a', serverId: 's', serverName: 'n', gatewaySigningKey: 'garbage' });
    await expect(registerAgent(opts({ http, caFingerprint: FP }))).rejects.toMatchObject({
      code: 'GATEWAY_BAD_RESPONSE',
    });
  });

  it('security: refuses a plain http gateway URL', async () => {
    await expect(registerAgent(opts({ gatewayUrl: 'http://gw.example', caFingerprint: FP }))).rejects.toMatchObject({
      code: 'USAGE',
    });
  });
});

describe('registration input', () => {
  it('makes a valid server name out of any host name', () => {
    expect(sanitiseServerName('web-01.example.com')).toBe('web-01.example.com');
    expect(sanitiseServerName('My Host!')).toBe('My-Host');
    expect(sanitiseServerName('--x')).toBe('x');
    expect(sanitiseServerName('a'.repeat(100))).toHaveLength(63);
    expect(sanitiseServerName('***')).toBe('server');
  });

  it('parses --tag k=v', () => {
    expect(parseTags(['env=prod', 'team=a=b', 'flag'])).toEqual({ env: 'prod', team: 'a=b', flag: '' });
    expect(() => parseTags(['bad key=1'])).toThrow(/bad tag key/);
  });
});
