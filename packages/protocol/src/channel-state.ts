/**
 * Lifecycle of a channel in the gateway, as a pure transition function (Teleport's agent states idea).
 *
 *   pending --user joins--> waiting_agent --agent joins--> open --end--> closed
 *      |                        |                            |
 *      +--------timeout---------+----------fail--------------+--> closed
 */
export type ChannelState = 'pending' | 'waiting_agent' | 'open' | 'closed';
export type ChannelEvent = 'user_joined' | 'agent_joined' | 'timeout' | 'fail' | 'end';

const TRANSITIONS: Record<ChannelState, Partial<Record<ChannelEvent, ChannelState>>> = {
  pending: { user_joined: 'waiting_agent', timeout: 'closed', fail: 'closed', end: 'closed' },
  waiting_agent: { agent_joined: 'open', timeout: 'closed', fail: 'closed', end: 'closed' },
  open: { end: 'closed', fail: 'closed' },
  closed: {},
};

/** The next state, or an error naming the illegal move. */
export function channelTransition(
  state: ChannelState,
  event: ChannelEvent,
): { ok: true; state: ChannelState } | { ok: false; error: string } {
  const next = TRANSITIONS[state][event];
  if (!next) return { ok: false, error: `illegal channel transition: ${event} in state ${state}` };
  return { ok: true, state: next };
}
