import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { grantSigningString, type Grant } from '@corral/protocol';

/** The gateway's Ed25519 grant-signing key. Agents pin its public half at registration. */
export class GrantSigner {
  readonly publicKeyPem: string;

  private constructor(private readonly key: KeyObject) {
    this.publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
  }

  /** Load the key from `path`, creating it (mode 0600) on first use. */
  static loadOrCreate(path: string): GrantSigner {
    if (!existsSync(path)) {
      const { privateKey } = generateKeyPairSync('ed25519');
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    return new GrantSigner(createPrivateKey(readFileSync(path, 'utf8')));
  }

  static fromKey(key: KeyObject): GrantSigner {
    return new GrantSigner(key);
  }

  /** base64 Ed25519 signature over the grant's canonical string. */
  sign(grant: Grant): string {
    return sign(null, Buffer.from(grantSigningString(grant)), this.key).toString('base64');
  }
}
