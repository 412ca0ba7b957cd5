import { readFileSync } from 'node:fs';
import { SsoProviderList, SsoProviderView, type SsoGroupMapping } from '@corral/protocol';
import { CliError } from '../errors.js';
import { println, type CliContext } from '../context.js';
import { promptHidden, readAllTrimmed } from '../prompt.js';
import { renderTable, type Column } from '../format/table.js';
import { sanitize } from '../format/text.js';
import { printJson, withApi, type OutputOptions } from './common.js';

/** Flags shared by `corral sso add` and `corral sso update`. */
export interface SsoFlags {
  kind?: string;
  displayName?: string;
  issuer?: string;
  clientId?: string;
  clientSecretStdin?: boolean;
  scopes?: string;
  groupsClaim?: string;
  entryPoint?: string;
  idpCert?: string;
  idpIssuer?: string;
  spEntityId?: string;
  groupsAttribute?: string;
  emailAttribute?: string;
  map?: string[];
  jit?: boolean;
  jitRole?: string;
  enable?: boolean;
  disable?: boolean;
  responseUnsigned?: boolean;
}

/** `IDP_GROUP=CORRAL_GROUP` (the IdP side may contain '=': the last one splits). */
export function parseMapping(text: string): SsoGroupMapping {
  const i = text.lastIndexOf('=');
  const idpGroup = text.slice(0, i).trim();
  const group = text.slice(i + 1).trim();
  if (i <= 0 || !idpGroup || !group) {
    throw new CliError(`--map must look like IDP_GROUP=CORRAL_GROUP (got "${text}")`);
  }
  return { idpGroup, group };
}

function readCert(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read --idp-cert ${path}: ${(err as Error).message}`);
  }
}

async function clientSecret(ctx: CliContext, opts: SsoFlags, required: boolean): Promise<string | undefined> {
  if (opts.clientSecretStdin) return readAllTrimmed(ctx.stdin);
  if (!required) return undefined;
  if (!ctx.stdin.isTTY) throw new CliError('no terminal to ask for the client secret on: pass --client-secret-stdin');
  return promptHidden(ctx, 'Client secret: ');
}

/** The request body fields the flags give (kind-specific ones only when set). */
async function fields(ctx: CliContext, opts: SsoFlags, creating: boolean): Promise<Record<string, unknown>> {
  if (opts.enable && opts.disable) throw new CliError('--enable and --disable contradict each other');
  if (opts.jitRole !== undefined && !['member', 'staff'].includes(opts.jitRole)) {
    throw new CliError(`--jit-role must be member or staff (got "${opts.jitRole}")`);
  }
  const oidc = opts.kind === 'oidc';
  const body: Record<string, unknown> = {
    displayName: opts.displayName,
    enabled: opts.enable ? true : opts.disable ? false : undefined,
    jit: opts.jit,
    jitRole: opts.jitRole,
    groupMap: opts.map && opts.map.length > 0 ? opts.map.map(parseMapping) : undefined,
    issuer: opts.issuer,
    clientId: opts.clientId,
    clientSecret: await clientSecret(ctx, opts, creating && oidc),
    scopes: opts.scopes,
    groupsClaim: opts.groupsClaim,
    entryPoint: opts.entryPoint,
    idpCert: opts.idpCert !== undefined ? readCert(opts.idpCert) : undefined,
    idpIssuer: opts.idpIssuer,
    spEntityId: opts.spEntityId,
    emailAttribute: opts.emailAttribute,
    wantResponseSigned: opts.responseUnsigned ? false : undefined,
  };
  // groups-attribute (SAML) and groups-claim (OIDC) are one idea under two names.
  if (opts.groupsAttribute !== undefined) body.groupsAttribute = opts.groupsAttribute;
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

function describe(p: SsoProviderView): string[] {
  const lines = [
    `${p.name} (${p.kind}, ${p.enabled ? 'enabled' : 'disabled'}): ${sanitize(p.displayName)}`,
    `  ${p.kind === 'oidc' ? 'redirect URI' : 'ACS URL'} to register at the IdP: ${p.callbackUrl}`,
  ];
  if (p.metadataUrl) lines.push(`  SP metadata: ${p.metadataUrl}`);
  lines.push(`  sign-in starts at: ${p.startUrl}`);
  lines.push(`  just-in-time users: ${p.jit ? `yes, as ${p.jitRole}` : 'no'}`);
  lines.push(
    `  group map: ${p.groupMap.length ? p.groupMap.map((m) => `${sanitize(m.idpGroup)} -> ${sanitize(m.group)}`).join(', ') : '(none)'}`,
  );
  return lines;
}

/** `corral sso ls` */
export async function ssoLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/sso/providers', { parse: (v) => SsoProviderList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    const cols: Column<SsoProviderView>[] = [
      { header: 'NAME', value: (p) => p.name },
      { header: 'KIND', value: (p) => p.kind },
      { header: 'STATUS', value: (p) => (p.enabled ? 'enabled' : 'disabled') },
      { header: 'JIT', value: (p) => (p.jit ? p.jitRole : 'off') },
      { header: 'GROUP MAP', value: (p) => String(p.groupMap.length) },
      { header: 'IDP', value: (p) => sanitize(String(p.settings.issuer ?? p.settings.entryPoint ?? '')) },
      { header: 'CALLBACK', value: (p) => p.callbackUrl },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
    println(ctx.stdout, `SSO required: ${list.ssoRequired ? 'yes (password sign-in only for superusers)' : 'no'}`);
  });
}

/** `corral sso add NAME --kind oidc|saml ...` */
export async function ssoAdd(ctx: CliContext, name: string, opts: SsoFlags & OutputOptions): Promise<void> {
  if (opts.kind !== 'oidc' && opts.kind !== 'saml') throw new CliError('--kind must be oidc or saml');
  if (opts.kind === 'oidc' && (!opts.issuer || !opts.clientId)) {
    throw new CliError(
      'an oidc provider needs --issuer and --client-id (and the client secret: prompt or --client-secret-stdin)',
    );
  }
  if (opts.kind === 'saml' && (!opts.entryPoint || !opts.idpCert)) {
    throw new CliError("a saml provider needs --entry-point and --idp-cert FILE (the IdP's signing certificate, PEM)");
  }
  const body = { kind: opts.kind, name, ...(await fields(ctx, opts, true)) };
  if (opts.kind === 'oidc' && opts.groupsAttribute !== undefined) {
    throw new CliError('--groups-attribute is for saml providers; oidc uses --groups-claim');
  }
  await withApi(ctx, async (api) => {
    const p = await api.request('POST', '/api/v1/sso/providers', { body, parse: (v) => SsoProviderView.parse(v) });
    if (opts.output === 'json') return printJson(ctx, p);
    for (const l of ['Added SSO provider ' + describe(p)[0], ...describe(p).slice(1)]) println(ctx.stdout, l);
  });
}

/** `corral sso update NAME ...` */
export async function ssoUpdate(ctx: CliContext, name: string, opts: SsoFlags & OutputOptions): Promise<void> {
  const body = await fields(ctx, opts, false);
  if (Object.keys(body).length === 0) throw new CliError('nothing to change: give at least one option (see --help)');
  await withApi(ctx, async (api) => {
    const p = await api.request('PATCH', `/api/v1/sso/providers/${encodeURIComponent(name)}`, {
      body,
      parse: (v) => SsoProviderView.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, p);
    for (const l of ['Updated ' + describe(p)[0], ...describe(p).slice(1)]) println(ctx.stdout, l);
  });
}

/** `corral sso remove NAME` */
export async function ssoRemove(ctx: CliContext, name: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/sso/providers/${encodeURIComponent(name)}`);
    println(ctx.stdout, `Removed SSO provider ${name}; its users stay, and sign in another way until linked again.`);
  });
}

/** `corral sso policy [--required|--not-required]` */
export async function ssoPolicy(
  ctx: CliContext,
  opts: OutputOptions & { required?: boolean; notRequired?: boolean },
): Promise<void> {
  if (opts.required && opts.notRequired) throw new CliError('--required and --not-required contradict each other');
  await withApi(ctx, async (api) => {
    const parse = (v: unknown) => v as { required: boolean };
    const r =
      opts.required || opts.notRequired
        ? await api.request('PUT', '/api/v1/sso/policy', { body: { required: Boolean(opts.required) }, parse })
        : await api.request('GET', '/api/v1/sso/policy', { parse });
    if (opts.output === 'json') return printJson(ctx, r);
    println(
      ctx.stdout,
      r.required
        ? 'SSO is required: members and staff sign in through the identity provider; superusers keep their password as break-glass.'
        : 'SSO is not required: password sign-in stays open to everyone.',
    );
  });
}
