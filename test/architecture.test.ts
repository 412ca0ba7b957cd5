import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLOSE_CODE_DESCRIPTIONS, CloseCode } from '../packages/protocol/src/close-codes.js';
import { ERRORS } from '../packages/gateway/src/errors.js';
import { apiRoutes } from '../packages/gateway/src/http/api-routes.js';
import type { Services } from '../packages/gateway/src/services.js';

// tailscale's deptest idea: the layering of ARCHITECTURE.md is checked, not hoped for.
function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|tsx)$/.test(f) ? [p] : [];
  });
}
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

describe('package layering', () => {
  it('protocol imports nothing of ours and no node:* module (it runs in the browser too)', () => {
    for (const f of sources('packages/protocol/src')) {
      for (const i of imports(f)) {
        expect(i.startsWith('node:') || i.startsWith('@corral/'), `${f} imports ${i}`).toBe(false);
        expect(i === 'zod' || i === 'vitest' || i.startsWith('./'), `${f} imports ${i}`).toBe(true);
      }
    }
  });
  it('web, agent and cli never import the gateway; the gateway never imports agent or cli', () => {
    for (const pkg of ['web', 'agent', 'cli']) {
      for (const f of sources(`packages/${pkg}/src`)) {
        for (const i of imports(f))
          expect(i.includes('@corral/gateway') || i.includes('gateway/src'), `${f} imports ${i}`).toBe(false);
      }
    }
    for (const f of sources('packages/gateway/src')) {
      for (const i of imports(f)) expect(/@corral\/(agent|cli)/.test(i), `${f} imports ${i}`).toBe(false);
    }
  });
  it('web runs in the browser: of our packages only @corral/protocol, no node:* module, no reach into other packages', () => {
    const files = sources('packages/web/src');
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      for (const i of imports(f)) {
        expect(i.startsWith('node:'), `${f} imports ${i}`).toBe(false);
        if (i.startsWith('@corral/')) expect(i, `${f} imports ${i}`).toBe('@corral/protocol');
        // Relative imports stay inside packages/web/src (never ../../gateway/src and the like).
        if (i.startsWith('.'))
          expect(join(f, '..', i).startsWith(join('packages', 'web', 'src')), `${f} imports ${i}`).toBe(true);
      }
    }
  });
});

describe('documentation keeps up with the catalogues', () => {
  it('every WebSocket close code is in docs/PROTOCOL.md', () => {
    const doc = readFileSync('docs/PROTOCOL.md', 'utf8');
    for (const [name, code] of Object.entries(CloseCode)) {
      expect(doc, `close code ${code} ${name}`).toContain(`| ${code} | ${name} |`);
      expect(CLOSE_CODE_DESCRIPTIONS[code], `description for ${code}`).toBeDefined();
    }
  });
  it('every gateway error code is in docs/API.md', () => {
    const doc = readFileSync('docs/API.md', 'utf8');
    for (const code of Object.keys(ERRORS)) expect(doc, code).toContain(`\`${code}\``);
  });
  it('every HTTP route is in the route table of docs/API.md', () => {
    // Rows look like "| GET, POST | `/api/v1/groups` | ..." or "| GET | `/api/v1/access/check?user=` | ...".
    const rows = readFileSync('docs/API.md', 'utf8')
      .split('\n')
      .map((l) => /^\| ([A-Z, ]+) \| `([^`?]+)[^`]*` \|/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ methods: m[1]!.split(/,\s*/), path: m[2]! }));
    // Building the route list touches no service: handlers only run on requests.
    for (const r of apiRoutes({} as Services)) {
      expect(
        rows.some((row) => row.path === r.url && row.methods.includes(r.method)),
        `${r.method} ${r.url}`,
      ).toBe(true);
    }
  });
});
