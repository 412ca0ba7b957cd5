import type { Kysely } from 'kysely';
import type {
  SsoGroupMapping,
  SsoProviderCreateRequest,
  SsoProviderUpdateRequest,
  SsoProviderView,
} from '@corral/protocol';
import type { Database, SsoProvidersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import type { SecretBox } from '../auth/secret-box.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { newId } from '../ids.js';

/** OIDC settings as stored (the secret is apart, encrypted). */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  scopes: string;
  groupsClaim: string;
}

/** SAML settings as stored. */
export interface SamlSettings {
  entryPoint: string;
  idpCert: string;
  idpIssuer: string | null;
  spEntityId: string | null;
  groupsAttribute: string;
  emailAttribute: string | null;
  wantResponseSigned: boolean;
}

/** A provider, decoded. */
export interface SsoProvider {
  id: string;
  workspaceId: string;
  name: string;
  kind: 'oidc' | 'saml';
  displayName: string;
  enabled: boolean;
  jit: boolean;
  jitRole: 'member' | 'staff';
  groupMap: SsoGroupMapping[];
  oidc: OidcSettings | null;
  saml: SamlSettings | null;
  secretEnc: string | null;
  createdAt: string;
  updatedAt: string;
}

const OIDC_KEYS = ['issuer', 'clientId', 'scopes', 'groupsClaim'] as const;
const SAML_KEYS = [
  'entryPoint',
  'idpCert',
  'idpIssuer',
  'spEntityId',
  'groupsAttribute',
  'emailAttribute',
  'wantResponseSigned',
] as const;

function decode(r: SsoProvidersTable): SsoProvider {
  const settings = JSON.parse(r.settings) as Record<string, unknown>;
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    name: r.name,
    kind: r.kind,
    displayName: r.display_name,
    enabled: Boolean(r.enabled),
    jit: Boolean(r.jit),
    jitRole: r.jit_role,
    groupMap: JSON.parse(r.group_map) as SsoGroupMapping[],
    oidc: r.kind === 'oidc' ? (settings as unknown as OidcSettings) : null,
    saml: r.kind === 'saml' ? (settings as unknown as SamlSettings) : null,
    secretEnc: r.secret_enc,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** PEM with header lines, whether the body or the whole PEM was given; refuses what is not a certificate. */
export function normalizeCert(input: string): string {
  const body = input
    .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
    .replace(/\s+/g, '')
    .trim();
  if (!/^[A-Za-z0-9+/]+=*$/.test(body) || body.length < 100) {
    throw new CorralError('VALIDATION_FAILED', 'idpCert: not a PEM certificate (or its base64 body).');
  }
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** An issuer must be https, or http on a loopback address (an IdP on the same machine, tests). */
export function checkIssuerUrl(field: string, value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CorralError('VALIDATION_FAILED', `${field}: not a URL.`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new CorralError('VALIDATION_FAILED', `${field}: must be https:// (http:// only on a loopback address).`);
  }
  return value;
}

/** SSO configuration per workspace: providers and the "SSO required" policy. Superusers change it. */
export class SsoStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  async list(workspaceId: string): Promise<SsoProvider[]> {
    const rows = await this.db
      .selectFrom('sso_providers')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('name')
      .execute();
    return rows.map(decode);
  }

  async find(workspaceId: string, name: string): Promise<SsoProvider> {
    const r = await this.db
      .selectFrom('sso_providers')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!r) throw new CorralError('SSO_PROVIDER_NOT_FOUND', `No SSO provider "${name}" in this workspace.`);
    return decode(r);
  }

  /** The OIDC client secret, decrypted (bound to the provider id). */
  clientSecret(p: SsoProvider): string {
    if (!p.secretEnc) throw new CorralError('SSO_FAILED', `Provider "${p.name}" has no client secret.`);
    return this.box.open(p.secretEnc, `sso-client-secret:${p.id}`);
  }

  async create(by: Principal, body: SsoProviderCreateRequest, sourceIp: string): Promise<SsoProvider> {
    const exists = await this.db
      .selectFrom('sso_providers')
      .select('id')
      .where('workspace_id', '=', by.workspaceId)
      .where('name', '=', body.name)
      .executeTakeFirst();
    if (exists) throw new CorralError('SSO_PROVIDER_EXISTS', `An SSO provider "${body.name}" already exists.`);
    const id = newId('sso');
    const now = iso(this.clock.now());
    const settings =
      body.kind === 'oidc'
        ? ({
            issuer: checkIssuerUrl('issuer', body.issuer),
            clientId: body.clientId,
            scopes: body.scopes ?? 'openid email profile',
            groupsClaim: body.groupsClaim ?? 'groups',
          } satisfies OidcSettings)
        : ({
            entryPoint: checkIssuerUrl('entryPoint', body.entryPoint),
            idpCert: normalizeCert(body.idpCert),
            idpIssuer: body.idpIssuer ?? null,
            spEntityId: body.spEntityId ?? null,
            groupsAttribute: body.groupsAttribute ?? 'groups',
            emailAttribute: body.emailAttribute ?? null,
            wantResponseSigned: body.wantResponseSigned ?? true,
          } satisfies SamlSettings);
    if (body.kind === 'oidc' && !(body.scopes ?? 'openid').split(/\s+/).includes('openid')) {
      throw new CorralError('VALIDATION_FAILED', 'scopes: must include "openid".');
    }
    await this.db
      .insertInto('sso_providers')
      .values({
        id,
        workspace_id: by.workspaceId,
        name: body.name,
        kind: body.kind,
        display_name: body.displayName ?? body.name,
        enabled: body.enabled === false ? 0 : 1,
        jit: body.jit === false ? 0 : 1,
        jit_role: body.jitRole ?? 'member',
        group_map: JSON.stringify(body.groupMap ?? []),
        settings: JSON.stringify(settings),
        secret_enc: body.kind === 'oidc' ? this.box.seal(body.clientSecret, `sso-client-secret:${id}`) : null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const p = await this.find(by.workspaceId, body.name);
    await this.event(by, 'sso.provider.create', p, sourceIp, { after: this.auditView(p) });
    return p;
  }

  async update(by: Principal, name: string, body: SsoProviderUpdateRequest, sourceIp: string): Promise<SsoProvider> {
    const before = await this.find(by.workspaceId, name);
    const keys = before.kind === 'oidc' ? OIDC_KEYS : SAML_KEYS;
    const allowed: string[] = ['displayName', 'enabled', 'jit', 'jitRole', 'groupMap', ...keys];
    if (before.kind === 'oidc') allowed.push('clientSecret');
    const wrong = Object.keys(body).filter((k) => !allowed.includes(k));
    if (wrong.length > 0) {
      throw new CorralError('VALIDATION_FAILED', `Not a setting of a ${before.kind} provider: ${wrong.join(', ')}.`);
    }
    if (body.enabled === false && before.enabled) await this.keepOneEnabled(by.workspaceId, before, 'disable');
    const settings: Record<string, unknown> = { ...(before.oidc ?? before.saml) };
    for (const k of keys) {
      const v = (body as Record<string, unknown>)[k];
      if (v === undefined) continue;
      settings[k] =
        k === 'issuer' || k === 'entryPoint'
          ? checkIssuerUrl(k, v as string)
          : k === 'idpCert'
            ? normalizeCert(v as string)
            : v;
    }
    await this.db
      .updateTable('sso_providers')
      .set({
        display_name: body.displayName ?? before.displayName,
        enabled: (body.enabled ?? before.enabled) ? 1 : 0,
        jit: (body.jit ?? before.jit) ? 1 : 0,
        jit_role: body.jitRole ?? before.jitRole,
        group_map: JSON.stringify(body.groupMap ?? before.groupMap),
        settings: JSON.stringify(settings),
        ...(body.clientSecret !== undefined
          ? { secret_enc: this.box.seal(body.clientSecret, `sso-client-secret:${before.id}`) }
          : {}),
        updated_at: iso(this.clock.now()),
      })
      .where('id', '=', before.id)
      .execute();
    const after = await this.find(by.workspaceId, name);
    await this.event(by, 'sso.provider.update', after, sourceIp, {
      before: this.auditView(before),
      after: this.auditView(after),
      clientSecretChanged: body.clientSecret !== undefined,
    });
    return after;
  }

  async remove(by: Principal, name: string, sourceIp: string): Promise<void> {
    const p = await this.find(by.workspaceId, name);
    if (p.enabled) await this.keepOneEnabled(by.workspaceId, p, 'remove');
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('sso_flows').where('provider_id', '=', p.id).execute();
      await trx.deleteFrom('sso_identities').where('provider_id', '=', p.id).execute();
      await trx.deleteFrom('sso_providers').where('id', '=', p.id).execute();
    });
    await this.event(by, 'sso.provider.delete', p, sourceIp, { before: this.auditView(p) });
  }

  /** While SSO is required, the last enabled provider may be neither disabled nor removed. */
  private async keepOneEnabled(workspaceId: string, p: SsoProvider, what: string): Promise<void> {
    const others = (await this.list(workspaceId)).filter((o) => o.id !== p.id && o.enabled);
    if (others.length === 0 && (await this.ssoRequired(workspaceId))) {
      throw new CorralError(
        'VALIDATION_FAILED',
        `Cannot ${what} "${p.name}": it is the last enabled SSO provider and SSO is required (corral sso policy --not-required first).`,
      );
    }
  }

  async ssoRequired(workspaceId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('sso_policies')
      .select('sso_required')
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    return Boolean(r?.sso_required);
  }

  async setPolicy(by: Principal, required: boolean, sourceIp: string): Promise<{ required: boolean }> {
    const before = await this.ssoRequired(by.workspaceId);
    if (required && !(await this.list(by.workspaceId)).some((p) => p.enabled)) {
      throw new CorralError('VALIDATION_FAILED', 'Add and enable an SSO provider before requiring SSO.');
    }
    const now = iso(this.clock.now());
    const row = { workspace_id: by.workspaceId, sso_required: required ? 1 : 0, updated_at: now, updated_by: by.email };
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('sso_policies').where('workspace_id', '=', by.workspaceId).execute();
      await trx.insertInto('sso_policies').values(row).execute();
    });
    await this.audit.append({
      workspaceId: by.workspaceId,
      action: 'sso.policy.update',
      actor: { type: 'user', id: by.userId, name: by.email },
      target: { type: 'workspace', id: by.workspaceId, name: by.workspaceName },
      sourceIp,
      details: { before: { required: before }, after: { required } },
    });
    return { required };
  }

  /** What audit events keep of a provider: settings without the certificate body, never the secret. */
  private auditView(p: SsoProvider): Record<string, unknown> {
    const { idpCert, ...saml } = p.saml ?? ({} as Partial<SamlSettings>);
    return {
      kind: p.kind,
      enabled: p.enabled,
      jit: p.jit,
      jitRole: p.jitRole,
      groupMap: p.groupMap,
      ...(p.oidc ?? saml),
      ...(idpCert ? { idpCertLength: idpCert.length } : {}),
    };
  }

  private async event(
    by: Principal,
    action: string,
    p: SsoProvider,
    sourceIp: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.append({
      workspaceId: by.workspaceId,
      action,
      actor: { type: 'user', id: by.userId, name: by.email },
      target: { type: 'sso_provider', id: p.id, name: p.name },
      sourceIp,
      details,
    });
  }

  /** The API view; URLs use the workspace origin the caller reached (`https://host[:port]`). */
  view(p: SsoProvider, origin: string): SsoProviderView {
    const base = `${origin}/api/v1/auth/sso/${p.name}`;
    const settings: Record<string, unknown> = { ...(p.oidc ?? p.saml) };
    return {
      id: p.id,
      name: p.name,
      kind: p.kind,
      displayName: p.displayName,
      enabled: p.enabled,
      jit: p.jit,
      jitRole: p.jitRole,
      groupMap: p.groupMap,
      settings,
      hasClientSecret: p.secretEnc !== null,
      startUrl: `${base}/start`,
      callbackUrl: p.kind === 'oidc' ? `${base}/callback` : `${base}/acs`,
      metadataUrl: p.kind === 'saml' ? `${base}/metadata` : null,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
    };
  }
}
