/**
 * Server selectors, shared by grants, work-session requests and multi-server commands:
 *
 *   web-01            exact name
 *   production-*      glob on the name (`*` any run of characters, `?` one character)
 *   group:production  member of a server group
 *   tag:env=prod      tag with that value (`tag:env` or `tag:env=*`: the tag is present)
 *   *                 every server
 *
 * A selector is evaluated against a server's current name, groups and tags at the moment of the
 * decision, so a server registered later that matches a glob is covered at once.
 */
export type Selector =
  | { kind: 'name'; value: string }
  | { kind: 'glob'; pattern: string; re: RegExp }
  | { kind: 'group'; value: string }
  | { kind: 'tag'; key: string; value: string | null };

/** What a selector is matched against. */
export interface ServerFacts {
  name: string;
  groups: readonly string[];
  tags: Readonly<Record<string, string>>;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const GLOB = /^[a-zA-Z0-9._*?-]{1,63}$/;

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Parse a selector; throws with a message naming the accepted forms. */
export function parseSelector(text: string): Selector {
  const t = text.trim();
  if (t.startsWith('group:')) {
    const value = t.slice(6);
    if (!NAME.test(value)) throw new Error(`bad server group in selector "${text}"`);
    return { kind: 'group', value };
  }
  if (t.startsWith('tag:')) {
    const [key = '', ...rest] = t.slice(4).split('=');
    const value = rest.length ? rest.join('=') : null;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,62}$/.test(key)) throw new Error(`bad tag key in selector "${text}"`);
    return { kind: 'tag', key, value: value === '*' ? null : value };
  }
  if (t.includes('*') || t.includes('?')) {
    if (!GLOB.test(t)) throw new Error(`bad glob in selector "${text}"`);
    return { kind: 'glob', pattern: t, re: globToRegExp(t) };
  }
  if (!NAME.test(t)) {
    throw new Error(`bad selector "${text}": use a server name, a glob (web-*), group:NAME or tag:KEY=VALUE`);
  }
  return { kind: 'name', value: t };
}

/** The selector's canonical text (what is stored and shown). */
export function formatSelector(s: Selector): string {
  switch (s.kind) {
    case 'name':
      return s.value;
    case 'glob':
      return s.pattern;
    case 'group':
      return `group:${s.value}`;
    case 'tag':
      return s.value === null ? `tag:${s.key}` : `tag:${s.key}=${s.value}`;
  }
}

export function selectorMatches(s: Selector, server: ServerFacts): boolean {
  switch (s.kind) {
    case 'name':
      return server.name === s.value;
    case 'glob':
      return s.re.test(server.name);
    case 'group':
      return server.groups.includes(s.value);
    case 'tag':
      return s.key in server.tags && (s.value === null || server.tags[s.key] === s.value);
  }
}
