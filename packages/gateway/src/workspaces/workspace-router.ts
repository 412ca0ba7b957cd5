import { isIP } from 'node:net';

/** What a request's Host header names. */
export type HostTarget =
  { kind: 'default' } | { kind: 'workspace'; name: string; region: string | null } | { kind: 'unknown' };

/**
 * Read the workspace out of a host name (pure):
 * - an IP address, `localhost`, the base domain or `<region>.<base>` → the default workspace;
 * - `<workspace>.localhost` → that workspace (local use);
 * - `<workspace>.<region>.<base>` → that workspace, as asked for in that region;
 * - without a base domain any other name (the machine's own) → the default workspace;
 * - with one, any other name → unknown.
 */
export function parseHost(hostHeader: string | undefined, baseDomain: string | null): HostTarget {
  const host = stripPort(hostHeader ?? '')
    .toLowerCase()
    .replace(/\.$/, '');
  if (!host || isIP(host) || host === 'localhost') return { kind: 'default' };
  if (host.endsWith('.localhost')) {
    const name = host.slice(0, -'.localhost'.length);
    return /^[a-z0-9][a-z0-9-]{0,30}$/.test(name) ? { kind: 'workspace', name, region: null } : { kind: 'unknown' };
  }
  if (!baseDomain) return { kind: 'default' };
  if (host === baseDomain) return { kind: 'default' };
  if (!host.endsWith('.' + baseDomain)) return { kind: 'unknown' };
  const labels = host.slice(0, -(baseDomain.length + 1)).split('.');
  if (labels.length === 1) return { kind: 'default' }; // <region>.<base>
  if (labels.length === 2 && /^[a-z0-9][a-z0-9-]{0,30}$/.test(labels[0]!)) {
    return { kind: 'workspace', name: labels[0]!, region: labels[1]! };
  }
  return { kind: 'unknown' };
}

function stripPort(h: string): string {
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  const i = h.lastIndexOf(':');
  return i > -1 && h.indexOf(':') === i ? h.slice(0, i) : h;
}

/** The URL of a workspace in its region, keeping the scheme and port the client used. */
export function workspaceUrl(name: string, region: string, baseDomain: string, port: string | null): string {
  return `https://${name}.${region}.${baseDomain}${port && port !== '443' ? `:${port}` : ''}`;
}

/** Workspace names: DNS labels, 1 to 31 characters. */
export const WORKSPACE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,30}$/;
