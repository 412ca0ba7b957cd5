import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { agentAuthSigningString } from '@corral/protocol';

/** A fresh Ed25519 key pair as PEM: PKCS#8 private key, SPKI public key. */
export function generateAgentKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * Parse an Ed25519 key from PEM.
 * @throws Error naming `what` when the PEM is not an Ed25519 key of the wanted kind
 */
export function loadEd25519Key(pem: string, kind: 'private' | 'public', what: string): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch {
    throw new Error(`${what} is not a valid ${kind} key PEM`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${what} is not an Ed25519 key`);
  return key;
}

/** The base64 answer to the gateway's challenge: Ed25519 over agentAuthSigningString(agentId, nonce). */
export function signChallenge(privateKey: KeyObject, agentId: string, nonce: string): string {
  return sign(null, Buffer.from(agentAuthSigningString(agentId, nonce), 'utf8'), privateKey).toString('base64');
}
