import { describe, it, expect } from 'vitest';
import { channelTransition } from './channel-state.js';

describe('channel lifecycle', () => {
  it('follows pending -> waiting_agent -> open -> closed', () => {
    expect(channelTransition('pending', 'user_joined')).toEqual({ ok: true, state: 'waiting_agent' });
    expect(channelTransition('waiting_agent', 'agent_joined')).toEqual({ ok: true, state: 'open' });
    expect(channelTransition('open', 'end')).toEqual({ ok: true, state: 'closed' });
  });
  it('rejects illegal moves, e.g. a second user join or an agent before the user', () => {
    expect(channelTransition('waiting_agent', 'user_joined').ok).toBe(false);
    expect(channelTransition('pending', 'agent_joined').ok).toBe(false);
    expect(channelTransition('closed', 'end').ok).toBe(false);
  });
});
