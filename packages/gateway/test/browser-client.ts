import http from 'node:http';
import https from 'node:https';

/**
 * A small stand-in for a browser in SSO tests: a cookie jar (by host name, like browsers, across
 * ports; Path, Secure, Max-Age honoured), redirects followed (303 and 302 turn a POST into a GET),
 * HTML forms read and posted. TLS is verified against the gateway's CA.
 */
export interface Page {
  status: number;
  url: string;
  headers: http.IncomingHttpHeaders;
  text: string;
}

interface Cookie {
  name: string;
  value: string;
  host: string;
  path: string;
  secure: boolean;
  sameSite: string;
}

export class TestBrowser {
  readonly cookies: Cookie[] = [];
  /** Every URL visited, in order (redirect hops included). */
  readonly visited: string[] = [];

  constructor(private readonly caPem: string) {}

  cookie(name: string): string | undefined {
    return this.cookies.find((c) => c.name === name)?.value;
  }

  setCookie(host: string, name: string, value: string): void {
    this.store(new URL(`https://${host}/`), `${name}=${value}; Path=/; Secure`);
  }

  private store(u: URL, header: string): void {
    const [pair, ...attrs] = header.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    let path = '/';
    let secure = false;
    let sameSite = 'Lax';
    let remove = false;
    for (const a of attrs) {
      const [k, v] = a.trim().split('=');
      const key = k!.toLowerCase();
      if (key === 'path') path = v ?? '/';
      if (key === 'secure') secure = true;
      if (key === 'samesite') sameSite = v ?? 'Lax';
      if (key === 'max-age' && Number(v) <= 0) remove = true;
      if (key === 'expires' && v && Date.parse(v) < Date.now()) remove = true;
    }
    const i = this.cookies.findIndex((c) => c.name === name && c.host === u.hostname && c.path === path);
    if (i >= 0) this.cookies.splice(i, 1);
    if (!remove) this.cookies.push({ name, value, host: u.hostname, path, secure, sameSite });
  }

  private cookieHeader(u: URL): string {
    return this.cookies
      .filter((c) => c.host === u.hostname && u.pathname.startsWith(c.path) && (!c.secure || u.protocol === 'https:'))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** One request, no redirect following. */
  request(method: string, url: string, body?: { form?: Record<string, string>; json?: unknown }): Promise<Page> {
    const u = new URL(url);
    this.visited.push(u.href);
    const payload = body?.form
      ? new URLSearchParams(body.form).toString()
      : body?.json !== undefined
        ? JSON.stringify(body.json)
        : undefined;
    const headers: Record<string, string> = { accept: 'text/html,application/json' };
    const cookie = this.cookieHeader(u);
    if (cookie) headers.cookie = cookie;
    if (payload !== undefined) {
      headers['content-type'] = body?.form ? 'application/x-www-form-urlencoded' : 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(u, { method, headers, ...(u.protocol === 'https:' ? { ca: this.caPem } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const set = res.headers['set-cookie'] ?? [];
          for (const h of set) this.store(u, h);
          resolve({
            status: res.statusCode ?? 0,
            url: u.href,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      });
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Request and follow redirects (at most 20). */
  async go(method: string, url: string, body?: { form?: Record<string, string>; json?: unknown }): Promise<Page> {
    let page = await this.request(method, url, body);
    for (let i = 0; i < 20 && page.status >= 300 && page.status < 400 && page.headers.location; i++) {
      const next = new URL(page.headers.location, page.url).href;
      const keep = page.status === 307 || page.status === 308;
      page = await this.request(keep ? method : 'GET', next, keep ? body : undefined);
    }
    return page;
  }

  /** Submit the first form on the page (its hidden inputs plus `fields`). */
  async submit(page: Page, fields: Record<string, string> = {}, opts: { follow?: boolean } = {}): Promise<Page> {
    const follow = opts.follow ?? true;
    const forms = [...page.text.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
    const f = forms[0];
    if (!f) throw new Error(`no form on ${page.url}:\n${page.text.slice(0, 500)}`);
    const attr = (s: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(s)?.[1];
    const action = new URL(decodeHtml(attr(f[1]!, 'action') ?? page.url), page.url).href;
    const method = (attr(f[1]!, 'method') ?? 'get').toUpperCase();
    const values: Record<string, string> = {};
    for (const m of f[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(m[1]!, 'name');
      if (name && /type="hidden"/i.test(m[1]!)) values[name] = decodeHtml(attr(m[1]!, 'value') ?? '');
    }
    Object.assign(values, fields);
    if (method === 'GET') {
      const u = new URL(action);
      for (const [k, v] of Object.entries(values)) u.searchParams.set(k, v);
      return follow ? this.go('GET', u.href) : this.request('GET', u.href);
    }
    return follow ? this.go('POST', action, { form: values }) : this.request('POST', action, { form: values });
  }
}

export function decodeHtml(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Where a "signed in, continue" page sends the browser (its meta refresh), or null. */
export function continueTo(page: Page): string | null {
  const m = /<meta http-equiv="refresh" content="0;url=([^"]*)">/.exec(page.text);
  return m ? decodeHtml(m[1]!) : null;
}
