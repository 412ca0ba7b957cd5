/** A running channel, as the registry and the manager see it. */
export interface LiveChannel {
  readonly channelId: string;
  /** Resolves once the process is gone and the socket is closed. */
  readonly done: Promise<void>;
  /** End it now (agent shutdown): close the socket with 1001, hang up and then kill the process. */
  dispose(): Promise<void>;
}

/** A promise with its resolver outside (Promise.withResolvers needs Node 22). */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
