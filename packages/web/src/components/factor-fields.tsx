import { METHOD_LABELS } from '../lib/webauthn';

/**
 * The second-factor fields shared by sign-in and step-up: the method (when there is a choice), then a
 * hint for passkeys, or "Send me a code" (email, SMS) and the code field.
 */
export function FactorFields(props: {
  methods: string[];
  method: string;
  onMethod: (method: string) => void;
  code: string;
  onCode: (code: string) => void;
  sent: string | null;
  onSend: () => void;
}) {
  const { methods, method, code, sent } = props;
  return (
    <>
      {methods.length > 1 && (
        <label>
          Method
          <select value={method} onChange={(e) => props.onMethod(e.target.value)}>
            {methods.map((m) => (
              <option key={m} value={m}>
                {METHOD_LABELS[m] ?? m}
              </option>
            ))}
          </select>
        </label>
      )}
      {method === 'webauthn' ? (
        <p className="muted">Press “Verify”, then touch your security key or confirm the passkey.</p>
      ) : (
        <>
          {(method === 'email' || method === 'sms') && (
            <button type="button" onClick={props.onSend}>
              Send me a code
            </button>
          )}
          {sent && (
            <p className="notice" role="status">
              {sent}
            </p>
          )}
          <label>
            {method === 'recovery' ? 'Recovery code' : 'Code'}
            <input
              name="code"
              inputMode={method === 'recovery' ? 'text' : 'numeric'}
              autoComplete="one-time-code"
              required
              autoFocus
              value={code}
              onChange={(e) => props.onCode(e.target.value)}
            />
          </label>
        </>
      )}
    </>
  );
}
