import { lookup as dnsLookup, type LookupOptions } from 'node:dns';

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | { address: string; family: number }[],
  family?: number,
) => void;

/**
 * DNS lookup that sends `*.localhost` to the loopback address, as browsers do (RFC 6761), so
 * `corral login https://acme.localhost:8443` reaches a local gateway's workspace "acme" without an
 * /etc/hosts entry. Every other name goes to the system resolver.
 */
export function localhostLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  if (hostname.toLowerCase().endsWith('.localhost')) {
    if (options.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
    return callback(null, '127.0.0.1', 4);
  }
  dnsLookup(hostname, options, callback as never);
}
