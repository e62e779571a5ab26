import { expect } from 'vitest';
import { BrokerError } from '../../src/broker/google-errors.js';

/** The BrokerError `run` throws; fails the test if it throws nothing or something else. */
export function refusal(run: () => unknown): BrokerError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
    return err as BrokerError;
  }
  throw new Error('expected a refusal');
}
