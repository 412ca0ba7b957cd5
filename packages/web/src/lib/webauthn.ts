/**
 * WebAuthn in the browser with @simplewebauthn/browser: the gateway sends the JSON options
 * (PublicKeyCredentialRequestOptionsJSON / CreationOptionsJSON) and takes the JSON answers back.
 */
import { browserSupportsWebAuthn, startAuthentication, startRegistration } from '@simplewebauthn/browser';

function check(): void {
  if (!browserSupportsWebAuthn()) throw new Error('This browser cannot use security keys or passkeys here.');
}

/** Sign in or step up with a passkey / security key. */
export async function webauthnAssertion(options: unknown): Promise<Record<string, unknown>> {
  check();
  if (!options) throw new Error('The gateway sent no WebAuthn options; choose another method.');
  const r = await startAuthentication({
    optionsJSON: options as Parameters<typeof startAuthentication>[0]['optionsJSON'],
  });
  return r as unknown as Record<string, unknown>;
}

/** Register a new passkey / security key. */
export async function webauthnRegistration(options: unknown): Promise<Record<string, unknown>> {
  check();
  const r = await startRegistration({ optionsJSON: options as Parameters<typeof startRegistration>[0]['optionsJSON'] });
  return r as unknown as Record<string, unknown>;
}

export const METHOD_LABELS: Record<string, string> = {
  totp: 'Authenticator app',
  webauthn: 'Security key or passkey',
  email: 'Code by e-mail',
  sms: 'Code by SMS',
  recovery: 'Recovery code',
};
