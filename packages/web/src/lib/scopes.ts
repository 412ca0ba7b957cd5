/**
 * The token scope resources, as in @corral/protocol's TOKEN_RESOURCES (a copy: importing the value
 * would bring zod into the page's chunk; lib.test.ts checks the two lists are the same).
 */
export const TOKEN_RESOURCES = [
  'servers',
  'websh',
  'files',
  'exec',
  'tunnels',
  'work_sessions',
  'recordings',
  'audit',
  'users',
  'iam',
  'workspace',
  'tokens',
  'applications',
] as const;
