#!/usr/bin/env node
// `npm start`: a gateway on ./.corral (embedded SQLite) and a local agent registered under this
// machine's host name. Prints the URL, the admin credentials and what to try next. Ctrl-C stops both.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const data = process.env.CORRAL_DATA ?? join(root, '.corral');
const listen = process.env.CORRAL_LISTEN ?? '127.0.0.1:8443';
const bin = (pkg, name) => join(root, 'packages', pkg, 'bin', `${name}.js`);
const agentConfig = join(data, 'local-agent.json');

if (
  !existsSync(join(root, 'packages/gateway/dist/main.js')) ||
  !existsSync(join(root, 'packages/agent/dist/main.js')) ||
  !existsSync(join(root, 'packages/web/dist/index.html'))
) {
  console.log('Building first (npm run build)...');
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const children = [];
let stopping = false;

/**
 * Stop the agent, then the gateway. After Ctrl-C the terminal already sent SIGINT to the whole process
 * group, children included, so they are only waited for; after SIGTERM (not from a terminal) the signal
 * is passed on. Anything still running after 8 s is killed.
 */
function stopAll(code = 0, forward = 'SIGTERM') {
  if (stopping) return;
  stopping = true;
  const order = [...children].reverse();
  const next = () => {
    const c = order.shift();
    if (!c) return process.exit(code);
    if (c.exitCode !== null || c.signalCode !== null) return next();
    c.once('exit', next);
    if (forward) c.kill(forward);
    setTimeout(() => c.kill('SIGKILL'), 8000).unref();
  };
  next();
}
process.on('SIGINT', () => stopAll(0, null));
process.on('SIGTERM', () => stopAll(0, 'SIGTERM'));

const gateway = spawn(
  process.execPath,
  [bin('gateway', 'corral-gateway'), 'start', '--data', data, '--listen', listen],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
children.push(gateway);
gateway.on('exit', (code) => {
  if (!stopping) {
    console.error(`gateway exited (${code}); stopping.`);
    stopAll(code ?? 1);
  }
});

let out = '';
let started = false;
gateway.stdout.setEncoding('utf8');
gateway.stdout.on('data', (chunk) => {
  out += chunk;
  if (!started && out.includes('Sign in:')) {
    started = true;
    onGatewayUp().catch((err) => {
      console.error(`npm start: ${err.message}`);
      stopAll(1);
    });
  } else if (started) {
    process.stdout.write(chunk);
  }
});

async function onGatewayUp() {
  const url = /listening on (\S+)/.exec(out)?.[1];
  const fp = /CA fingerprint: (\S+)/.exec(out)?.[1];
  const password = /password:\s+(\S+)/.exec(out)?.[1];
  if (!url || !fp) throw new Error('could not read the gateway URL from its output');
  const serverName =
    hostname()
      .replace(/[^a-zA-Z0-9._-]/g, '-')
      .replace(/^[^a-zA-Z0-9]+/, '')
      .slice(0, 63) || 'local';

  if (!existsSync(agentConfig)) {
    const jt = spawnSync(
      process.execPath,
      [
        bin('gateway', 'corral-gateway'),
        'join-token',
        'create',
        '--data',
        data,
        '--name',
        'npm-start local agent',
        '--expires-in',
        '10m',
      ],
      { cwd: root, encoding: 'utf8' },
    );
    if (jt.status !== 0) throw new Error(`join token: ${jt.stderr}`);
    const token = jt.stdout.trim();
    const reg = spawnSync(
      process.execPath,
      [
        bin('agent', 'corral-agent'),
        'register',
        '--gateway',
        url,
        '--token',
        token,
        '--ca-fingerprint',
        fp,
        '--config',
        agentConfig,
        '--name',
        serverName,
      ],
      { cwd: root, encoding: 'utf8' },
    );
    if (reg.status !== 0) throw new Error(`agent registration failed: ${reg.stderr || reg.stdout}`);
  }
  const agentName = (() => {
    try {
      return JSON.parse(readFileSync(agentConfig, 'utf8')).serverName ?? serverName;
    } catch {
      return serverName;
    }
  })();
  const agent = spawn(process.execPath, [bin('agent', 'corral-agent'), 'run', '--config', agentConfig], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(agent);
  agent.on('exit', (code) => {
    if (!stopping) {
      console.error(`agent exited (${code}); stopping.`);
      stopAll(code ?? 1);
    }
  });

  const adminFile = join(data, 'initial-admin.json');
  let email = 'admin@localhost';
  let pw = password;
  if (!pw && existsSync(adminFile)) {
    try {
      const a = JSON.parse(readFileSync(adminFile, 'utf8'));
      email = a.email ?? email;
      pw = a.password;
    } catch {
      /* fall through */
    }
  }
  const line = '─'.repeat(72);
  console.log(`\n${line}`);
  console.log(` Corral is running.`);
  console.log(`   web UI:          ${url}/  (sign in with the admin below; the browser asks to trust the local CA)`);
  console.log(`   gateway:         ${url}`);
  console.log(`   CA fingerprint:  ${fp}`);
  console.log(`   admin:           ${email}`);
  console.log(`   password:        ${pw ?? '(set on first start; see ' + adminFile + ' if you kept it)'}`);
  console.log(`   local server:    ${agentName} (agent dialled out; nothing listens on the server side)`);
  console.log(`\n In a second terminal:`);
  console.log(`   npx corral login ${url} --email ${email} --ca-fingerprint ${fp}`);
  console.log(`   npx corral server ls`);
  console.log(`   npx corral websh ${agentName}`);
  console.log(`   npx corral websh ${agentName} -- uname -a`);
  console.log(`   npx corral audit ls`);
  console.log(`\n Ctrl-C stops the gateway and the agent. Data stays in ${data}.`);
  console.log(`${line}\n`);
}
