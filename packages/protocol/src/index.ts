export * from './version.js';
export * from './close-codes.js';
export * from './backoff.js';
export * from './grant.js';
export * from './messages.js';
export * from './codec.js';
export * from './api.js';
export * from './channel-state.js';
