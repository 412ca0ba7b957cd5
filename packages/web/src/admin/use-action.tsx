import { useState } from 'react';
import { describeError } from '../api/client';

/** Run an admin action, keep its error or success line, then call `after` (a reload). */
export function useAction(after: () => void) {
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const run = async (fn: () => Promise<unknown>, ok?: string) => {
    setMessage(null);
    try {
      await fn();
      if (ok) setMessage({ text: ok, error: false });
      after();
      return true;
    } catch (e) {
      setMessage({ text: describeError(e), error: true });
      return false;
    }
  };
  return { message, run };
}

export function ActionMessage({ message }: { message: { text: string; error: boolean } | null }) {
  if (!message) return null;
  return (
    <p className={message.error ? 'error' : 'notice'} role={message.error ? 'alert' : 'status'}>
      {message.text}
    </p>
  );
}
