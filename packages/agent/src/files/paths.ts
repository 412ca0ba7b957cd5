/**
 * Path handling for the file helper. Relative paths (and `~`) are taken from the user's home. Repeated
 * slashes and `.` segments are dropped; `..` is NOT folded, because `a/link/..` means something else to
 * the kernel than to string arithmetic: the kernel resolves it, as the user's own shell would.
 */
export function resolveUserPath(home: string, input: string): string {
  if (input.includes('\0')) throw Object.assign(new Error('a path may not contain NUL'), { code: 'EINVAL' });
  let p = input;
  if (p === '~') p = home;
  else if (p.startsWith('~/')) p = home.replace(/\/+$/, '') + p.slice(1);
  else if (!p.startsWith('/')) p = home.replace(/\/+$/, '') + '/' + p;
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  return '/' + parts.join('/');
}

/** Directory part and last name of a resolved path (`/` for the root's parent). */
export function splitPath(p: string): { dir: string; base: string } {
  const i = p.lastIndexOf('/');
  return { dir: i <= 0 ? '/' : p.slice(0, i), base: p.slice(i + 1) };
}
