import type { Extension } from '@codemirror/state';
import { StreamLanguage, type StreamParser } from '@codemirror/language';

/**
 * Syntax highlighting by file name: each language is its own chunk, loaded when a file of that type
 * is opened. Unknown types open as plain text.
 */
type Loader = () => Promise<Extension>;

const legacy =
  (load: () => Promise<StreamParser<unknown>>): Loader =>
  async () =>
    StreamLanguage.define(await load());

const BY_EXT: Record<string, Loader> = {
  js: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  mjs: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  cjs: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  jsx: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ jsx: true })),
  ts: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ typescript: true })),
  tsx: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ typescript: true, jsx: true })),
  json: () => import('@codemirror/lang-json').then((m) => m.json()),
  py: () => import('@codemirror/lang-python').then((m) => m.python()),
  md: () => import('@codemirror/lang-markdown').then((m) => m.markdown()),
  yml: () => import('@codemirror/lang-yaml').then((m) => m.yaml()),
  yaml: () => import('@codemirror/lang-yaml').then((m) => m.yaml()),
  html: () => import('@codemirror/lang-html').then((m) => m.html()),
  htm: () => import('@codemirror/lang-html').then((m) => m.html()),
  css: () => import('@codemirror/lang-css').then((m) => m.css()),
  xml: () => import('@codemirror/lang-xml').then((m) => m.xml()),
  svg: () => import('@codemirror/lang-xml').then((m) => m.xml()),
  sql: () => import('@codemirror/lang-sql').then((m) => m.sql()),
  rs: () => import('@codemirror/lang-rust').then((m) => m.rust()),
  go: () => import('@codemirror/lang-go').then((m) => m.go()),
  sh: legacy(() => import('@codemirror/legacy-modes/mode/shell').then((m) => m.shell)),
  bash: legacy(() => import('@codemirror/legacy-modes/mode/shell').then((m) => m.shell)),
  zsh: legacy(() => import('@codemirror/legacy-modes/mode/shell').then((m) => m.shell)),
  toml: legacy(() => import('@codemirror/legacy-modes/mode/toml').then((m) => m.toml)),
  ini: legacy(() => import('@codemirror/legacy-modes/mode/properties').then((m) => m.properties)),
  conf: legacy(() => import('@codemirror/legacy-modes/mode/properties').then((m) => m.properties)),
  properties: legacy(() => import('@codemirror/legacy-modes/mode/properties').then((m) => m.properties)),
  nginx: legacy(() => import('@codemirror/legacy-modes/mode/nginx').then((m) => m.nginx)),
  dockerfile: legacy(() => import('@codemirror/legacy-modes/mode/dockerfile').then((m) => m.dockerFile)),
  lua: legacy(() => import('@codemirror/legacy-modes/mode/lua').then((m) => m.lua)),
  rb: legacy(() => import('@codemirror/legacy-modes/mode/ruby').then((m) => m.ruby)),
};

const BY_NAME: Record<string, string> = {
  Dockerfile: 'dockerfile',
  '.bashrc': 'sh',
  '.profile': 'sh',
  '.bash_profile': 'sh',
  '.zshrc': 'sh',
  'nginx.conf': 'nginx',
};

/** The language key for a path (shown in the status line), or null for plain text. */
export function languageOf(path: string): string | null {
  const base = path.split('/').pop() ?? '';
  if (BY_NAME[base]) return BY_NAME[base]!;
  const ext = base.includes('.') ? base.split('.').pop()!.toLowerCase() : '';
  return BY_EXT[ext] ? ext : null;
}

export async function loadLanguage(path: string): Promise<Extension | null> {
  const key = languageOf(path);
  return key ? BY_EXT[key]!() : null;
}
