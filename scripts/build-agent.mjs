#!/usr/bin/env node
/**
 * Build the agent as one executable per platform (Node single executable application):
 *
 *   packages/agent/dist/main.js --esbuild--> corral-agent.cjs (one CommonJS file, node-pty's loader swapped)
 *   corral-agent.cjs + pty.node --node --experimental-sea-config--> sea-prep.blob
 *   copy of this node binary + blob --postject--> dist/artifacts/corral-agent-<platform>
 *   + corral-agent-<platform>.json: {platform, version, sha256, size, node, builtAt}
 *
 * Usage: node scripts/build-agent.mjs [--version V] [--out DIR] [--platform linux-x64]
 * Run `npm run build` first (tsc). Only the platform this script runs on can be built here: the SEA
 * blob and the node binary must match the target (docs/install.md lists the steps for the others).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    version: { type: 'string' },
    out: { type: 'string', default: join(root, 'dist', 'artifacts') },
    platform: { type: 'string', default: `${process.platform}-${process.arch}` },
    quiet: { type: 'boolean', default: false },
  },
});
const log = (line) => values.quiet || process.stderr.write(`build-agent: ${line}\n`);
const started = Date.now();

const pkgVersion = JSON.parse(readFileSync(join(root, 'packages/agent/package.json'), 'utf8')).version;
const version = values.version ?? pkgVersion;
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version))
  throw new Error(`--version must look like 1.2.3 (got ${version})`);
const platform = values.platform;
const here = `${process.platform}-${process.arch}`;
if (platform !== here) {
  throw new Error(
    `cannot build ${platform} on ${here}: run this script on a ${platform} machine (see docs/install.md, "Building the artifacts")`,
  );
}
const entry = join(root, 'packages/agent/dist/main.js');
if (!existsSync(entry)) throw new Error(`${entry} is missing: run "npm run build" first`);

const outDir = resolve(values.out);
const work = join(outDir, `.build-${platform}-${process.pid}`);
mkdirSync(work, { recursive: true });
const exeName = `corral-agent-${platform}${process.platform === 'win32' ? '.exe' : ''}`;
const exe = join(outDir, exeName);

try {
  // 1. One CommonJS bundle. node-pty finds its addon relative to its own sources; in the executable the
  //    addon is an embedded asset instead, so its loader is swapped for ours (deploy/native-modules.ts).
  const nativeLoader = join(root, 'packages/agent/dist/deploy/native-modules.js');
  const bundle = join(work, 'corral-agent.cjs');
  await build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    define: { __CORRAL_AGENT_VERSION__: JSON.stringify(version) },
    logLevel: 'warning',
    plugins: [
      {
        // ws loads these optional native helpers in a try/catch and uses plain JS without them. The agent
        // sends with an all-zero mask (no masking work) and receives unmasked frames, so they gain little.
        name: 'ws-optional-natives',
        setup(b) {
          b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (a) => ({ path: a.path, namespace: 'absent' }));
          b.onLoad({ filter: /.*/, namespace: 'absent' }, () => ({
            contents: "throw Object.assign(new Error('not bundled'), { code: 'MODULE_NOT_FOUND' });",
            loader: 'js',
          }));
        },
      },
      {
        name: 'node-pty-native',
        setup(b) {
          b.onLoad({ filter: /node-pty[\\/]lib[\\/]utils\.js$/ }, () => ({
            contents:
              `const n = require(${JSON.stringify(nativeLoader)});\n` +
              'exports.assign = (t, ...s) => (s.forEach((o) => Object.keys(o).forEach((k) => (t[k] = o[k]))), t);\n' +
              'exports.loadNativeModule = (name) => n.loadNativeModule(name);\n',
            loader: 'js',
          }));
        },
      },
    ],
  });
  log(`bundle ${(statSync(bundle).size / 1024).toFixed(0)} KiB`);

  // 2. The SEA blob: the bundle plus node-pty's addon (and macOS's spawn-helper) as assets.
  const ptyDir = join(root, 'node_modules/node-pty');
  const candidates = [join(ptyDir, 'build/Release'), join(ptyDir, `prebuilds/${platform}`)];
  const nativeDir = candidates.find((d) => existsSync(join(d, 'pty.node')));
  if (!nativeDir) throw new Error(`node-pty's pty.node for ${platform} not found in ${candidates.join(' or ')}`);
  const assets = { 'pty.node': join(nativeDir, 'pty.node') };
  if (existsSync(join(nativeDir, 'spawn-helper'))) assets['spawn-helper'] = join(nativeDir, 'spawn-helper');
  const blob = join(work, 'sea-prep.blob');
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, assets }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'pipe' });

  // 3. A copy of this node binary with the blob injected.
  const tmpExe = join(work, exeName);
  copyFileSync(process.execPath, tmpExe);
  chmodSync(tmpExe, 0o755);
  if (process.platform === 'darwin') execFileSync('codesign', ['--remove-signature', tmpExe]);
  const postject = join(root, 'node_modules/postject/dist/cli.js');
  execFileSync(
    process.execPath,
    [
      postject,
      tmpExe,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
      ...(process.platform === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : []),
    ],
    { stdio: 'pipe' },
  );
  if (process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', tmpExe]);

  // 4. Check that it starts and reports the version it was built with, then publish it with its manifest.
  const reported = execFileSync(tmpExe, ['--version'], { encoding: 'utf8' }).trim();
  if (reported !== version) throw new Error(`the built agent reports version "${reported}", expected "${version}"`);
  const bytes = readFileSync(tmpExe);
  const manifest = {
    platform,
    version,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    node: process.version,
    builtAt: new Date().toISOString(),
  };
  copyFileSync(tmpExe, `${exe}.tmp`);
  chmodSync(`${exe}.tmp`, 0o755);
  execFileSync('mv', ['-f', `${exe}.tmp`, exe]);
  writeFileSync(join(outDir, `${exeName}.json`), JSON.stringify(manifest, null, 2) + '\n');
  log(
    `${exe}: version ${version}, ${(manifest.size / 1024 / 1024).toFixed(1)} MiB, sha256 ${manifest.sha256.slice(0, 16)}..., ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  process.stdout.write(JSON.stringify({ ...manifest, path: exe, buildMs: Date.now() - started }) + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
