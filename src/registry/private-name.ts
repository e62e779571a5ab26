import { IdbridgeError } from '../errors.js';
import { PRIVATE_RECORD_NAME } from './store.js';

/** Private record names are chosen by idbridge, never by a request: a bad one is a bug. */
export function checkPrivateName(name: string): void {
  if (!PRIVATE_RECORD_NAME.test(name))
    throw new IdbridgeError(
      'internal',
      `${JSON.stringify(name.slice(0, 80))} is not a private record name (a-z, 0-9, "-")`,
    );
}
