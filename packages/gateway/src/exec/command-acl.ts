import type { CommandAcl } from '@corral/protocol';

/** `*` any run of characters, `?` one; everything else literal; the whole command line must match. */
export function commandPatternToRegExp(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) {
    if (ch === '*') re += '[\\s\\S]*';
    else if (ch === '?') re += '[\\s\\S]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Check a command line against an allow/deny list: a deny match refuses (naming the pattern); with a
 * non-empty allow list, only a match admits. No list admits everything.
 */
export function checkCommand(
  acl: CommandAcl | null | undefined,
  command: readonly string[],
): { allow: true } | { allow: false; rule: string; reason: string } {
  if (!acl) return { allow: true };
  const line = command.join(' ');
  for (const d of acl.deny ?? []) {
    if (commandPatternToRegExp(d).test(line))
      return { allow: false, rule: `deny "${d}"`, reason: `the command matches deny "${d}"` };
  }
  if (acl.allow && acl.allow.length > 0 && !acl.allow.some((a) => commandPatternToRegExp(a).test(line))) {
    return {
      allow: false,
      rule: `allow [${acl.allow.map((a) => `"${a}"`).join(', ')}]`,
      reason: `the command matches none of the allowed patterns (${acl.allow.join(', ')})`,
    };
  }
  return { allow: true };
}
