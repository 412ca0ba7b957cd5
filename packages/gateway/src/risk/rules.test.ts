import { describe, expect, it } from 'vitest';
import { DEFAULT_RISK_THRESHOLD, isAlert } from './analyzer.js';
import { RISK_TABLE } from './risk-table.js';
import { RuleAnalyzer } from './rules.js';
import { parseCommandLine } from './shell-lexer.js';

const rules = new RuleAnalyzer();

describe('the labelled table', () => {
  it('has at least 60 commands, risky and benign', () => {
    expect(RISK_TABLE.length).toBeGreaterThanOrEqual(60);
    expect(RISK_TABLE.filter((t) => t.risky).length).toBeGreaterThanOrEqual(30);
    expect(RISK_TABLE.filter((t) => !t.risky).length).toBeGreaterThanOrEqual(30);
  });

  it.each(RISK_TABLE.map((t) => [t.command, t] as const))('%s', (command, t) => {
    const v = rules.score(command);
    expect(isAlert(v, DEFAULT_RISK_THRESHOLD), `score ${v.score} (${v.rule}: ${v.reason})`).toBe(t.risky);
    if (t.minScore !== undefined) expect(v.score).toBeGreaterThanOrEqual(t.minScore);
    if (t.maxScore !== undefined) expect(v.score).toBeLessThanOrEqual(t.maxScore);
    if (t.category) expect(v.category).toBe(t.category);
    expect(v.source).toBe('rules');
    expect(Number.isInteger(v.score) && v.score >= 0 && v.score <= 100).toBe(true);
  });
});

describe('shell lexer', () => {
  const words = (line: string): string[][] => parseCommandLine(line).flatMap((p) => p.map((c) => c.argv));

  it('splits on ; && || & and newlines, joins pipes', () => {
    const p = parseCommandLine('a 1; b && c || d & e\nf | g |& h');
    expect(p.map((pl) => pl.map((c) => c.name))).toEqual([['a'], ['b'], ['c'], ['d'], ['e'], ['f', 'g', 'h']]);
  });

  it('removes quotes and does not split inside them', () => {
    expect(words(`echo "a; rm -rf /" 'b|c' d\\ e`)).toEqual([['echo', 'a; rm -rf /', 'b|c', 'd e']]);
  });

  it('collects redirections with their targets, dropping descriptor numbers', () => {
    const [c] = parseCommandLine('cmd arg 2>&1 >> out.log < in').flat();
    expect(c?.argv).toEqual(['cmd', 'arg']);
    expect(c?.redirects).toEqual([
      { op: '>&', target: '1' },
      { op: '>>', target: 'out.log' },
      { op: '<', target: 'in' },
    ]);
  });

  it('hands back $(...), backticks and <(...) for reading in turn', () => {
    const [c] = parseCommandLine('diff <(ls a) "$(echo $(id))" `date`').flat();
    expect(c?.substitutions).toEqual(['ls a', 'echo $(id)', 'date']);
  });

  it('strips sudo, env, nohup, xargs, timeout and assignments, noting elevation', () => {
    const [c] = parseCommandLine('A=1 sudo -u root env -i B=2 nohup timeout 5 xargs -n 1 /usr/bin/rm -f x').flat();
    expect(c?.name).toBe('rm');
    expect(c?.argv).toEqual(['/usr/bin/rm', '-f', 'x']);
    expect(c?.elevated).toBe(true);
    expect(c?.assignments).toEqual(['A=1', 'B=2']);
  });

  it('keeps `sudo -i` visible and reads `sh -c` and `ssh host cmd` strings', () => {
    expect(parseCommandLine('sudo -i').flat()[0]?.name).toBe('sudo');
    expect(parseCommandLine(`bash -c 'id; whoami'`).flat()[0]?.substitutions).toEqual(['id; whoami']);
    expect(parseCommandLine(`ssh -p 22 web1 uptime -p`).flat()[0]?.substitutions).toEqual(['uptime -p']);
  });

  it('never throws on unbalanced input', () => {
    for (const s of ['"unterminated', "it's", '$(', '`', 'a |', '(((', '\\'])
      expect(() => rules.score(s)).not.toThrow();
  });
});

describe('verdicts', () => {
  it('takes the maximum over every part of the line and names the deciding rule', () => {
    expect(rules.score('ls; systemctl restart nginx; rm -rf /')).toMatchObject({
      score: 95,
      category: 'destructive-files',
      rule: 'rm.recursive-system',
      source: 'rules',
    });
  });

  it('answers score 0 and category none when nothing matched', () => {
    expect(rules.score('uptime')).toEqual({
      score: 0,
      category: 'none',
      reason: 'no rule matched',
      rule: null,
      source: 'rules',
    });
  });

  it('analyze() is the async form of score()', async () => {
    await expect(rules.analyze('reboot', { osUser: 'root', server: 'web1' })).resolves.toEqual(rules.score('reboot'));
  });
});

describe('workspace rules', () => {
  const ws = new RuleAnalyzer({
    rules: [
      { name: 'prod-db', pattern: 'psql *prod*', score: 85, category: 'other', reason: 'production database shell' },
      {
        name: 'tf-destroy',
        pattern: '/terraform\\s+destroy/i',
        score: 90,
        category: 'other',
        reason: 'terraform destroy',
      },
      { name: 'quiet-reboot', pattern: 'reboot', score: 10, category: 'power', reason: 'reboots are routine here' },
    ],
  });

  it('a glob matches a whole simple command after sudo and friends are stripped', () => {
    expect(ws.score('cd /srv && sudo -u postgres psql -h prod-db1')).toMatchObject({
      score: 85,
      rule: 'workspace:prod-db',
    });
    expect(ws.score('psql -h staging').score).toBe(0);
  });

  it('a /regex/ searches the line', () => {
    expect(ws.score('cd infra; TERRAFORM destroy -auto-approve')).toMatchObject({
      score: 90,
      rule: 'workspace:tf-destroy',
    });
  });

  it('can raise a score but never lower one (a low workspace score does not hide a built-in finding)', () => {
    expect(ws.score('reboot')).toMatchObject({ score: 90, rule: 'power.reboot' });
  });

  it('rejects an invalid pattern or score at construction, naming the rule', () => {
    expect(
      () => new RuleAnalyzer({ rules: [{ name: 'bad', pattern: '/(/', score: 50, category: 'other', reason: 'x' }] }),
    ).toThrow(/risk rule "bad": invalid regular expression/);
    expect(
      () => new RuleAnalyzer({ rules: [{ name: 'x', pattern: 'a', score: 101, category: 'other', reason: 'x' }] }),
    ).toThrow(/risk rule #1/);
    expect(
      () => new RuleAnalyzer({ rules: [{ name: 'x', pattern: 'a', score: 50, category: 'made-up', reason: 'x' }] }),
    ).toThrow();
  });
});
