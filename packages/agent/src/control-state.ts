/**
 * The control connection's lifecycle as a pure transition table (Teleport's reversetunnel agent states).
 *
 *   idle --start--> connecting --open--> authenticating --welcome--> connected
 *                      ^  |                  |                          |
 *                      |  +------lost--------+-----------lost-----------+
 *                      |                     v
 *                      +------retry------ backoff
 *
 *   every state --stop--> closed (final)
 *
 * `backoff` is the wait between attempts; `closed` is only reached by stopping the agent.
 */
export type ControlState = 'idle' | 'connecting' | 'authenticating' | 'connected' | 'backoff' | 'closed';
export type ControlEvent = 'start' | 'open' | 'welcome' | 'lost' | 'retry' | 'stop';

const TRANSITIONS: Record<ControlState, Partial<Record<ControlEvent, ControlState>>> = {
  idle: { start: 'connecting', stop: 'closed' },
  connecting: { open: 'authenticating', lost: 'backoff', stop: 'closed' },
  authenticating: { welcome: 'connected', lost: 'backoff', stop: 'closed' },
  connected: { lost: 'backoff', stop: 'closed' },
  backoff: { retry: 'connecting', stop: 'closed' },
  closed: {},
};

/** The next state, or an error naming the illegal move. */
export function controlTransition(
  state: ControlState,
  event: ControlEvent,
): { ok: true; state: ControlState } | { ok: false; error: string } {
  const next = TRANSITIONS[state][event];
  if (!next) return { ok: false, error: `illegal control transition: ${event} in state ${state}` };
  return { ok: true, state: next };
}
