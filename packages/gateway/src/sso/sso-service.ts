import type { Kysely } from 'kysely';
import type { LoginSession, Role } from '@corral/protocol';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuthService } from '../auth/auth-service.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';
import type { SsoProvider, SsoStore } from './sso-store.js';
import { FailureLimiter } from '../auth/rate-limit.js';
import { OidcClient } from './oidc.js';
import { SAML_REQUEST_TTL_MS, SamlServiceProvider } from './saml.js';

/** A sign-in in flight lives this long (OIDC state, SAML request). */
export const FLOW_TTL_MS = SAML_REQUEST_TTL_MS;

/** What an IdP vouched for. */
export interface Assertion {
  method: 'oidc' | 'saml';
  subject: string;
  email: string | null;
  emailVerified?: boolean | null;
  groups: string[];
}

/** The `next` to go to after sign-in: a same-origin relative path only, else "/". */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2000) return '/';
  // "/x" but not "//host" nor "/\host" (browsers read both as another origin), no control characters.
  if (!/^\/(?![/\\])/.test(next) || next.includes('\\') || [...next].some((c) => c < ' ' || c === '\u007f')) {
    return '/';
  }
  return next;
}

/** Why a sign-in failed, with the catalogue code to answer and the audit reason. */
export class SsoFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** The account concerned, when known (for the audit trail). */
    readonly who: string | null = null,
  ) {
    super(message);
  }
}

export interface FlowStart {
  url: string;
  /** Random value for the browser-binding cookie (its SHA-256 is in the flow record). */
  binding: string;
}

/**
 * Single sign-on: starts OIDC and SAML sign-ins (a server-side flow record keyed by the SHA-256 of the
 * state / RelayState, bound to the browser by a cookie, single use, 10 minutes), finishes them, and turns
 * an IdP's assertion into a Corral session: the identity is linked to a user (by subject, else by email),
 * a user is created just in time when allowed, the mapped user groups are synced, everything audited.
 */
export class SsoService {
  readonly oidc: OidcClient;
  readonly saml = new SamlServiceProvider();
  /** Sign-ins started per source address: each one stores a flow record for 10 minutes. */
  private readonly starts: FailureLimiter;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly auth: AuthService,
    readonly store: SsoStore,
    private readonly clock: Clock,
    /** Announce that a user's access changed (group membership): live channels are re-checked. */
    private readonly onAccessChanged: (workspaceId: string, userIds: string[]) => void,
  ) {
    this.oidc = new OidcClient(clock, (p) => store.clientSecret(p));
    this.starts = new FailureLimiter({ max: 100, windowMs: 15 * 60_000 }, clock);
  }

  /** The enabled provider `name` of the workspace, or SSO_PROVIDER_NOT_FOUND. */
  async provider(workspaceId: string, name: string): Promise<SsoProvider> {
    const p = await this.store.find(workspaceId, name);
    if (!p.enabled) throw new CorralError('SSO_PROVIDER_NOT_FOUND', `SSO provider "${name}" is disabled.`);
    return p;
  }

  static urls(origin: string, p: SsoProvider): { callback: string; acs: string; metadata: string; spEntityId: string } {
    const base = `${origin}/api/v1/auth/sso/${p.name}`;
    return {
      callback: `${base}/callback`,
      acs: `${base}/acs`,
      metadata: `${base}/metadata`,
      spEntityId: p.saml?.spEntityId ?? `${base}/metadata`,
    };
  }

  async start(p: SsoProvider, origin: string, next: string, sourceIp: string): Promise<FlowStart> {
    const wait = this.starts.retryAfterMs(sourceIp);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new CorralError('RATE_LIMITED', `Too many sign-ins started; try again in ${seconds} s.`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    this.starts.fail(sourceIp);
    const state = newSecret('st').slice(3);
    const binding = newSecret('sb').slice(3);
    const urls = SsoService.urls(origin, p);
    const now = this.clock.now();
    let url: string;
    let extra: { nonce: string | null; code_verifier: string | null; request_id: string | null; redirect_uri: string };
    if (p.kind === 'oidc') {
      const o = await this.oidc.start(p, urls.callback, state).catch((err: unknown) => {
        throw new CorralError('SSO_FAILED', `The identity provider could not be reached: ${String(err)}`);
      });
      url = o.url;
      extra = { nonce: o.nonce, code_verifier: o.codeVerifier, request_id: null, redirect_uri: urls.callback };
    } else {
      const s = await this.saml.start(p, urls.acs, urls.spEntityId, state);
      url = s.url;
      extra = { nonce: null, code_verifier: null, request_id: s.requestId, redirect_uri: urls.acs };
    }
    await this.db.deleteFrom('sso_flows').where('expires_at', '<', iso(now)).execute();
    await this.db
      .insertInto('sso_flows')
      .values({
        id: hashSecret(state),
        workspace_id: p.workspaceId,
        provider_id: p.id,
        binding_hash: hashSecret(binding),
        ...extra,
        next: safeNext(next),
        created_at: iso(now),
        expires_at: iso(now + FLOW_TTL_MS),
        consumed_at: null,
      })
      .execute();
    return { url, binding };
  }

  /**
   * The flow a callback belongs to: by state, for this workspace and provider, unexpired, unused, and
   * started by this browser (binding cookie). Throws SsoFailure otherwise.
   */
  private async flow(p: SsoProvider, state: string | undefined, binding: string | null) {
    if (!state) throw new SsoFailure('state_missing', 'The answer carries no state.');
    const f = await this.db
      .selectFrom('sso_flows')
      .selectAll()
      .where('id', '=', hashSecret(state))
      .where('workspace_id', '=', p.workspaceId)
      .where('provider_id', '=', p.id)
      .executeTakeFirst();
    if (!f) throw new SsoFailure('state_invalid', 'Unknown sign-in state: start again.');
    if (f.consumed_at) throw new SsoFailure('replayed', 'This sign-in answer was already used.');
    if (Date.parse(f.expires_at) <= this.clock.now()) throw new SsoFailure('expired', 'The sign-in took too long.');
    if (!binding || hashSecret(binding) !== f.binding_hash) {
      throw new SsoFailure('browser_mismatch', 'This sign-in was started in another browser.');
    }
    return f;
  }

  /** Mark the flow used; false when another request got there first (a replay). */
  private async consume(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('sso_flows')
      .set({ consumed_at: iso(this.clock.now()) })
      .where('id', '=', id)
      .where('consumed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** OIDC callback: check state and browser, exchange the code, validate the ID token. */
  async finishOidc(p: SsoProvider, callbackUrl: URL, binding: string | null): Promise<{ a: Assertion; next: string }> {
    const state = callbackUrl.searchParams.get('state') ?? undefined;
    const f = await this.flow(p, state, binding);
    if (!(await this.consume(f.id))) throw new SsoFailure('replayed', 'This sign-in answer was already used.');
    const idpError = callbackUrl.searchParams.get('error');
    if (idpError) throw new SsoFailure('idp_error', `The identity provider answered ${idpError}.`);
    try {
      const r = await this.oidc.finish(p, callbackUrl, {
        state: state!,
        nonce: f.nonce!,
        codeVerifier: f.code_verifier!,
      });
      return {
        a: { method: 'oidc', subject: r.subject, email: r.email, emailVerified: r.emailVerified, groups: r.groups },
        next: f.next,
      };
    } catch (err) {
      if (err instanceof SsoFailure) throw err;
      throw new SsoFailure('token_invalid', `The identity provider's answer did not check out: ${errText(err)}`);
    }
  }

  /** SAML ACS: find the flow by RelayState, validate the Response, consume the request once. */
  async finishSaml(
    p: SsoProvider,
    origin: string,
    form: { SAMLResponse?: string; RelayState?: string },
    binding: string | null,
  ): Promise<{ a: Assertion; next: string }> {
    if (!form.SAMLResponse) throw new SsoFailure('response_missing', 'No SAMLResponse was posted.');
    const f = await this.flow(p, form.RelayState, binding);
    const urls = SsoService.urls(origin, p);
    let r;
    try {
      r = await this.saml.finish(p, f.redirect_uri, urls.spEntityId, form.SAMLResponse, async (id) =>
        id === f.request_id && !f.consumed_at && Date.parse(f.expires_at) > this.clock.now() ? f.created_at : null,
      );
    } catch (err) {
      await this.consume(f.id);
      throw new SsoFailure('assertion_invalid', `The SAML response did not check out: ${errText(err)}`);
    }
    if (!(await this.consume(f.id))) throw new SsoFailure('replayed', 'This SAML response was already used.');
    return { a: { method: 'saml', subject: r.subject, email: r.email, groups: r.groups }, next: f.next };
  }

  /**
   * Turn an assertion into a session: find or link or create the user, sync groups, issue the token.
   * Throws SsoFailure (audited by the caller) when the user may not sign in.
   */
  async signIn(p: SsoProvider, a: Assertion, sourceIp: string): Promise<LoginSession> {
    if (!a.subject) throw new SsoFailure('no_subject', 'The identity provider named no subject.');
    if (a.emailVerified === false) throw new SsoFailure('email_unverified', 'The IdP says the email is not verified.');
    const email = a.email?.trim().toLowerCase() ?? null;
    const linked = await this.db
      .selectFrom('sso_identities')
      .innerJoin('users', 'users.id', 'sso_identities.user_id')
      .select(['users.id', 'users.email', 'users.role', 'users.deactivated_at'])
      .where('sso_identities.provider_id', '=', p.id)
      .where('sso_identities.subject', '=', a.subject)
      .executeTakeFirst();
    let user = linked;
    let how: 'linked' | 'email' | 'jit' = 'linked';
    if (!user) {
      if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) {
        throw new SsoFailure('no_email', 'The identity provider sent no usable email for a first sign-in.');
      }
      user = await this.db
        .selectFrom('users')
        .select(['id', 'email', 'role', 'deactivated_at'])
        .where('workspace_id', '=', p.workspaceId)
        .where('email', '=', email)
        .executeTakeFirst();
      how = 'email';
      if (!user) {
        if (!p.jit)
          throw new SsoFailure('no_account', `No account for ${email} and this provider creates none.`, email);
        user = await this.createUser(p, email, sourceIp);
        how = 'jit';
      }
      await this.db
        .insertInto('sso_identities')
        .values({
          provider_id: p.id,
          subject: a.subject,
          workspace_id: p.workspaceId,
          user_id: user.id,
          created_at: iso(this.clock.now()),
          last_login_at: null,
        })
        .execute();
    }
    if (user.deactivated_at) throw new SsoFailure('deactivated', `${user.email} is deactivated.`, user.email);
    await this.db
      .updateTable('sso_identities')
      .set({ last_login_at: iso(this.clock.now()) })
      .where('provider_id', '=', p.id)
      .where('subject', '=', a.subject)
      .execute();
    await this.syncGroups(p, { id: user.id, email: user.email }, a.groups, sourceIp);
    return this.auth.issueSession(
      p.workspaceId,
      { id: user.id, email: user.email, role: user.role as Role },
      sourceIp,
      a.method,
      { provider: p.name, subject: a.subject, link: how },
    );
  }

  private async createUser(p: SsoProvider, email: string, sourceIp: string) {
    const row = {
      id: newId('usr'),
      workspace_id: p.workspaceId,
      email,
      // No password: argon2 verification of this string always fails, so only SSO signs this user in.
      password_hash: '!sso',
      role: p.jitRole,
      created_at: iso(this.clock.now()),
      deactivated_at: null,
    };
    await this.db.insertInto('users').values(row).execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'sso.user.create',
      actor: { type: 'system', name: `sso:${p.name}` },
      target: { type: 'user', id: row.id, name: email },
      sourceIp,
      details: { provider: p.name, method: p.kind, role: row.role },
    });
    return { id: row.id, email, role: row.role, deactivated_at: null };
  }

  /**
   * Membership of every Corral group named in the provider's map follows the IdP: added when one of
   * its IdP groups is present, removed when none is. Groups outside the map are left alone. A mapped
   * group that does not exist yet is created.
   */
  private async syncGroups(
    p: SsoProvider,
    user: { id: string; email: string },
    idpGroups: string[],
    sourceIp: string,
  ): Promise<void> {
    if (p.groupMap.length === 0) return;
    const have = new Set(idpGroups);
    const want = new Map<string, boolean>();
    for (const m of p.groupMap) want.set(m.group, (want.get(m.group) ?? false) || have.has(m.idpGroup));
    const added: string[] = [];
    const removed: string[] = [];
    const created: string[] = [];
    for (const [name, member] of want) {
      let g = await this.db
        .selectFrom('user_groups')
        .select('id')
        .where('workspace_id', '=', p.workspaceId)
        .where('name', '=', name)
        .executeTakeFirst();
      if (!g && !member) continue;
      if (!g) {
        g = { id: newId('grp') };
        await this.db
          .insertInto('user_groups')
          .values({ id: g.id, workspace_id: p.workspaceId, name, created_at: iso(this.clock.now()) })
          .execute();
        created.push(name);
      }
      const is = await this.db
        .selectFrom('user_group_members')
        .select('user_id')
        .where('group_id', '=', g.id)
        .where('user_id', '=', user.id)
        .executeTakeFirst();
      if (member && !is) {
        await this.db
          .insertInto('user_group_members')
          .values({ group_id: g.id, user_id: user.id, workspace_id: p.workspaceId })
          .execute();
        added.push(name);
      } else if (!member && is) {
        await this.db
          .deleteFrom('user_group_members')
          .where('group_id', '=', g.id)
          .where('user_id', '=', user.id)
          .execute();
        removed.push(name);
      }
    }
    if (added.length + removed.length + created.length === 0) return;
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'sso.groups.sync',
      actor: { type: 'system', name: `sso:${p.name}` },
      target: { type: 'user', id: user.id, name: user.email },
      sourceIp,
      details: { provider: p.name, added, removed, createdGroups: created, idpGroups: idpGroups.slice(0, 50) },
    });
    this.onAccessChanged(p.workspaceId, [user.id]);
  }

  /** Audit a failed SSO sign-in with its reason. */
  async failed(
    workspaceId: string,
    provider: { name: string; kind: string } | null,
    reason: string,
    message: string,
    sourceIp: string,
    who?: string | null,
  ): Promise<void> {
    await this.audit.append({
      workspaceId,
      action: 'auth.login',
      outcome: 'failure',
      actor: { type: 'anonymous', name: who ?? null },
      sourceIp,
      details: {
        method: provider?.kind ?? 'sso',
        provider: provider?.name ?? null,
        reason,
        message: message.slice(0, 300),
      },
    });
  }

  /** What the public sign-in page may know: enabled providers and the policy. */
  async publicList(workspaceId: string): Promise<{ name: string; kind: 'oidc' | 'saml'; displayName: string }[]> {
    return (await this.store.list(workspaceId))
      .filter((p) => p.enabled)
      .map((p) => ({ name: p.name, kind: p.kind, displayName: p.displayName }));
  }
}

function errText(err: unknown): string {
  const e = err as { message?: string; code?: string; error?: string; error_description?: string };
  return [e.code, e.error, e.error_description ?? e.message].filter(Boolean).join(': ').slice(0, 300);
}
