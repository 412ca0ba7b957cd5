import { describe, it, expect } from 'vitest';
import { isAppRoute, safeNext } from './next';
import { castMarkers } from './cast';
import { auditCsv, csvCell } from './csv';
import { TOKEN_RESOURCES as WEB_RESOURCES } from './scopes';
import { TOKEN_RESOURCES } from '@corral/protocol';

describe('safeNext (sign-in ?next=)', () => {
  it('keeps same-origin relative paths', () => {
    expect(safeNext('/audit')).toBe('/audit');
    expect(safeNext('/files/web-01?path=/etc')).toBe('/files/web-01?path=/etc');
    expect(safeNext('/device?code=ABCD')).toBe('/device?code=ABCD');
  });
  it('refuses anything that could leave the origin (open redirect) and loops back to /login', () => {
    for (const bad of [
      null,
      '',
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      'javascript:alert(1)',
      '/login',
      '/login?next=/x',
      '/\nx',
    ])
      expect(safeNext(bad), String(bad)).toBe('/servers');
  });
  it('tells client routes from the gateway pages that must be loaded in full', () => {
    expect(isAppRoute('/')).toBe(true);
    expect(isAppRoute('/servers/web-01')).toBe(true);
    expect(isAppRoute('/admin?x=1')).toBe(true);
    expect(isAppRoute('/tokens')).toBe(true);
    expect(isAppRoute('/security')).toBe(true);
    expect(isAppRoute('/device?code=1')).toBe(false);
    expect(isAppRoute('/serversx')).toBe(false);
  });
});

describe('castMarkers', () => {
  it('reads "m" events in order and skips other events and broken lines', () => {
    const cast = [
      '{"version":2,"width":80,"height":24}',
      '[0.1,"o","$ "]',
      '[0.5,"m","echo hi"]',
      '[0.6,"o","hi\\r\\n"]',
      '[1.25,"m","ls -l \\"x\\""]',
      '[1.3,"m"',
    ].join('\n');
    expect(castMarkers(cast)).toEqual([
      { time: 0.5, label: 'echo hi' },
      { time: 1.25, label: 'ls -l "x"' },
    ]);
  });
});

describe('audit CSV export', () => {
  it('quotes cells with commas, quotes and line breaks, and neutralises spreadsheet formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell(null)).toBe('');
    expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
  });
  it('writes a header and one CRLF line per event', () => {
    const csv = auditCsv([
      {
        seq: 1,
        id: 'aud_1',
        ts: '2026-01-01T00:00:00.000Z',
        action: 'auth.login',
        outcome: 'success',
        actorType: 'user',
        actorId: 'usr_1',
        actorName: 'a@b',
        targetType: null,
        targetId: null,
        targetName: null,
        sourceIp: '127.0.0.1',
        details: { method: 'password' },
        hash: 'h',
      },
    ]);
    expect(csv).toBe(
      'seq,ts,action,outcome,actorType,actorName,targetType,targetName,sourceIp,details,hash\r\n' +
        '1,2026-01-01T00:00:00.000Z,auth.login,success,user,a@b,,,127.0.0.1,"{""method"":""password""}",h\r\n',
    );
  });
});

describe('formatting', () => {
  it('bytes and rates read as people write them', async () => {
    const { bytes, rate, duration } = await import('../format');
    expect(bytes(941.0548)).toBe('941 B');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(20 * 1024 * 1024)).toBe('20 MiB');
    expect(rate(null)).toBe('–');
    expect(duration(3725)).toBe('1 h 2 min');
    expect(duration(42)).toBe('42 s');
  });
});

describe('token scope resources', () => {
  it('the scope picker lists exactly the resources the gateway knows', () => {
    expect([...WEB_RESOURCES]).toEqual([...TOKEN_RESOURCES]);
  });
});
