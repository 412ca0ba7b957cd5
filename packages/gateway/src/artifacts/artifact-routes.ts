import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ARTIFACT_PLATFORM_RE } from '@corral/protocol';
import { CorralError } from '../errors.js';
import type { ArtifactStore } from './artifact-store.js';

/** install.sh as shipped (packages/gateway/assets/install.sh); the gateway URL is filled in per request. */
const INSTALL_SH = readFileSync(new URL('../../assets/install.sh', import.meta.url), 'utf8');

/** Quote a word for a POSIX shell command line. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The one-line install printed with a join token. curl cannot pin a fingerprint by itself, so the line
 * first fetches the CA (unverified), stops unless openssl reports the expected SHA-256 fingerprint, and
 * then fetches install.sh over TLS verified against that CA; install.sh checks the CA again itself.
 */
export function installCommand(gatewayUrl: string, token: string, caFingerprint: string): string {
  const u = shellQuote(gatewayUrl);
  const fp = shellQuote(caFingerprint);
  return (
    `curl -fsSk ${u}/api/v1/ca -o corral-ca.pem && ` +
    `openssl x509 -in corral-ca.pem -noout -fingerprint -sha256 | grep -qi '=${caFingerprint}$' && ` +
    `curl -fsS --cacert corral-ca.pem ${u}/install.sh | sudo sh -s -- --token ${shellQuote(token)} --ca-fingerprint ${fp}`
  );
}

/** The install script with this gateway's URL filled in. */
export function renderInstallScript(gatewayUrl: string): string {
  if (!/^https:\/\/[A-Za-z0-9.[\]:_-]+(\/[A-Za-z0-9._~/-]*)?$/.test(gatewayUrl)) {
    throw new Error(`gateway URL not usable in a shell script: ${gatewayUrl}`);
  }
  return INSTALL_SH.replace('__CORRAL_GATEWAY_URL__', gatewayUrl.replace(/\/$/, ''));
}

/**
 * Routes that serve files rather than JSON (no sign-in; artifacts are not secret, their integrity is
 * what matters and is checked by the receiver):
 *
 *   GET /install.sh                                 the installer (POSIX sh)
 *   GET /api/v1/agent/artifacts/signing-key         the artifact-signing public key (PEM)
 *   GET /api/v1/agent/artifacts/<platform>          the executable (Content-Length, X-Corral-Sha256)
 *   GET /api/v1/agent/artifacts/<platform>.sig      base64 Ed25519 signature
 *   GET /api/v1/agent/artifacts/<platform>.manifest platform=, version=, sha256=, size=, signature= lines
 */
export function registerArtifactRoutes(
  app: FastifyInstance,
  store: ArtifactStore,
  gatewayUrl: () => string | null,
): void {
  app.get('/install.sh', async (req, reply) => {
    const url = gatewayUrl() ?? `https://${req.headers.host ?? 'localhost'}`;
    return reply
      .type('text/x-shellscript; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(renderInstallScript(url));
  });
  app.get('/api/v1/agent/artifacts/signing-key', async (_req, reply) =>
    reply.type('application/x-pem-file').send(store.publicKeyPem),
  );
  app.get<{ Params: { file: string } }>('/api/v1/agent/artifacts/:file', async (req, reply) => {
    const m = /^([a-z0-9]+-[a-z0-9]+)(\.sig|\.manifest)?$/.exec(req.params.file);
    const platform = m?.[1];
    if (!platform || !ARTIFACT_PLATFORM_RE.test(platform)) {
      throw new CorralError('ARTIFACT_NOT_FOUND', `"${req.params.file}" is not a platform like linux-x64.`);
    }
    const a = store.get(platform);
    if (!a) {
      throw new CorralError(
        'ARTIFACT_NOT_FOUND',
        `This gateway has no agent build for ${platform}: build it on a ${platform} machine (npm run build:agent) and copy it to the gateway's --artifacts directory.`,
      );
    }
    if (m[2] === '.sig') return reply.type('text/plain').send(a.signature + '\n');
    if (m[2] === '.manifest') {
      return reply
        .type('text/plain')
        .send(
          `platform=${a.platform}\nversion=${a.version}\nsha256=${a.sha256}\nsize=${a.size}\nsignature=${a.signature}\n`,
        );
    }
    return reply
      .type('application/octet-stream')
      .header('content-length', String(a.size))
      .header('content-disposition', `attachment; filename="corral-agent-${a.platform}"`)
      .header('x-corral-sha256', a.sha256)
      .header('x-corral-version', a.version)
      .send(store.open(a));
  });
}
