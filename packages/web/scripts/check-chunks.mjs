#!/usr/bin/env node
// After `vite build`: fail when a JavaScript chunk of the web UI is over 500 kB (vite's
// chunkSizeWarningLimit only warns; every route is a lazy chunk, and a page that grows past this
// should split further), then write .gz copies of the text assets that the gateway serves to clients
// that accept gzip (it does not compress on the fly).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const MAX_CHUNK_BYTES = 500 * 1000;
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const assets = join(dist, 'assets');
const files = readdirSync(assets);
const over = files
  .filter((f) => f.endsWith('.js'))
  .map((f) => ({ f, size: statSync(join(assets, f)).size }))
  .filter((c) => c.size > MAX_CHUNK_BYTES);
if (over.length > 0) {
  for (const c of over) console.error(`web: chunk ${c.f} is ${c.size} bytes (limit ${MAX_CHUNK_BYTES})`);
  process.exit(1);
}
for (const f of files) {
  if (!/\.(js|css|svg|json|wasm)$/.test(f)) continue;
  const p = join(assets, f);
  const data = readFileSync(p);
  if (data.length > 1024) writeFileSync(`${p}.gz`, gzipSync(data, { level: 9 }));
}
