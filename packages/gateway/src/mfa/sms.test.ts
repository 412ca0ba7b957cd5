import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookPhoneSender } from './sms.js';

describe('WebhookPhoneSender', () => {
  it('posts {to, message, channel} with the bearer secret, and fails on a non-2xx answer', async () => {
    const seen: { body: unknown; auth: string | undefined }[] = [];
    let status = 200;
    const srv = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ body: JSON.parse(body), auth: req.headers.authorization });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/send`;
      await new WebhookPhoneSender(url, 's3cret').send('ws', '+15551234567', 'code 123456', 'voice');
      expect(seen).toEqual([
        { body: { to: '+15551234567', message: 'code 123456', channel: 'voice' }, auth: 'Bearer s3cret' },
      ]);
      status = 503;
      await expect(new WebhookPhoneSender(url).send('ws', '+1555', 'x', 'sms')).rejects.toThrow(/HTTP 503/);
      expect(seen[1]!.auth).toBeUndefined();
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
