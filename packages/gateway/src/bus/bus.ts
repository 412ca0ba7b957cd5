/**
 * The message bus between gateway nodes. One interface, two implementations: in-process (single node,
 * the default) and NATS (cluster). Payloads are JSON values. Subjects are dot-separated tokens; `*`
 * matches one token and `>` the rest, as in NATS.
 *
 * The bus carries control traffic only (frames for agents, channel lookups, revocations). Terminal and
 * file bytes never cross it: channel sockets are forwarded node to node over WSS, so TCP's own flow
 * control applies end to end (docs/operations.md explains the choice).
 */
export interface Bus {
  readonly kind: 'memory' | 'nats';
  /** Fire and forget. */
  publish(subject: string, data: unknown): void;
  /**
   * Handle messages on `subject`. `respond` answers a request (a no-op for plain publishes).
   * Returns the function that unsubscribes.
   */
  subscribe(subject: string, handler: (data: unknown, respond: (answer: unknown) => void) => void): () => void;
  /**
   * Send and wait for the first answer. Rejects with BusNoResponders at once when nobody listens, and
   * with BusTimeout after `timeoutMs`.
   */
  request(subject: string, data: unknown, timeoutMs: number): Promise<unknown>;
  close(): Promise<void>;
}

export class BusNoResponders extends Error {
  constructor(subject: string) {
    super(`no responders on ${subject}`);
    this.name = 'BusNoResponders';
  }
}

export class BusTimeout extends Error {
  constructor(subject: string, ms: number) {
    super(`no answer on ${subject} within ${ms} ms`);
    this.name = 'BusTimeout';
  }
}

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** Subjects used by the gateway, in one place. Tokens must be NATS-safe ([A-Za-z0-9_-]). */
export const Subjects = {
  /** Request: deliver a frame to the agent of a server, on whichever node holds it. */
  agentSend: (serverId: string) => `corral.agent.${serverId}.send`,
  /** Publish: an agent's message about a channel (e.g. channel.reject), for the channel's home node. */
  channelEvent: (channelId: string) => `corral.channel.${channelId}.event`,
  /** Request: which node is this channel's home? Answer {url}. */
  channelWhere: (channelId: string) => `corral.channel.${channelId}.where`,
  /** Request: add a participant to this live terminal channel; answer {token} (null when gone). */
  channelViewer: (channelId: string) => `corral.channel.${channelId}.viewer`,
  /** Publish to every node: disconnect participants of a session (share removed, kicked). */
  channelsDropViewers: 'corral.control.channels.viewers.drop',
  /** Request: the node holding this websh session's live state does a session operation (attach). */
  webshSession: (sessionId: string) => `corral.websh.${sessionId}.op`,
  /** Publish to every node: end the live channels that match a filter (termination, revocation). */
  channelsTerminate: 'corral.control.channels.terminate',
  /** Publish to every node: these users' access changed; re-check their live channels. */
  accessChanged: 'corral.control.access.changed',
  /** Publish to every node: close this server's agent connection (the server was deleted). */
  agentsKick: 'corral.control.agents.kick',
  /** Publish: an agent's exec output or exit, for the node that runs the job (jobId from the execId). */
  execEvent: (jobId: string) => `corral.exec.${jobId}.event`,
  /** Publish to every node: a workspace changed (deleted); drop cached routing for this name. */
  workspaceChanged: 'corral.control.workspace.changed',
};

/** Which live channels a termination covers; every field given must match. */
export interface TerminateFilter {
  workspaceId: string;
  sessionId?: string;
  userId?: string;
  serverId?: string;
  workSessionId?: string;
  /** Channels opened with this API or service token (revocation ends them). */
  apiTokenId?: string;
  /** Error code sent to the user before the close (default SESSION_TERMINATED). */
  code?: string;
  /** Shown to the user whose channel ends. */
  reason: string;
}
