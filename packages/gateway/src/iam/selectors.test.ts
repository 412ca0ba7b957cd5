import { describe, it, expect } from 'vitest';
import { formatSelector, parseSelector, selectorMatches } from './selectors.js';

const web = { name: 'production-web-1', groups: ['production', 'web'], tags: { env: 'prod', team: 'a' } };

describe('server selectors', () => {
  it.each([
    ['production-web-1', true],
    ['production-web-2', false],
    ['production-*', true],
    ['*-web-?', true],
    ['staging-*', false],
    ['*', true],
    ['group:production', true],
    ['group:db', false],
    ['tag:env=prod', true],
    ['tag:env=dev', false],
    ['tag:env', true],
    ['tag:env=*', true],
    ['tag:owner', false],
  ])('%s matches: %s', (text, expected) => {
    expect(selectorMatches(parseSelector(text), web)).toBe(expected);
  });

  it('round-trips its canonical text', () => {
    for (const t of ['web-01', 'web-*', 'group:db', 'tag:env=prod', 'tag:env'])
      expect(formatSelector(parseSelector(t))).toBe(t);
  });

  it('refuses what is not a selector, naming the forms', () => {
    expect(() => parseSelector('a b')).toThrow(/group:NAME or tag:KEY=VALUE/);
    expect(() => parseSelector('group:')).toThrow(/bad server group/);
    expect(() => parseSelector('web-(1|2)*')).toThrow(/bad glob/);
  });

  it('treats regex characters in a glob literally', () => {
    expect(selectorMatches(parseSelector('web.1*'), { name: 'webx1', groups: [], tags: {} })).toBe(false);
    expect(selectorMatches(parseSelector('web.1*'), { name: 'web.10', groups: [], tags: {} })).toBe(true);
  });
});
