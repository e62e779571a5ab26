import { startFakeGoogle, type FakeProvider } from '../../test/fakes/google.js';

/**
 * The fake Google STS in a process of its own, for exchange.ts: a pod's call to Google and the
 * broker's call to Google then both cross a process boundary, as they cross a network in life.
 * Driven over the IPC channel of child_process.fork.
 */
type Command =
  | { type: 'provider'; provider: FakeProvider }
  | { type: 'delay'; ms: number }
  | { type: 'calls' }
  | { type: 'close' };

const google = await startFakeGoogle();
process.on('message', (command: Command) => {
  switch (command.type) {
    case 'provider':
      google.providers.push(command.provider);
      process.send!({ ok: true });
      break;
    case 'delay':
      google.setDelay(command.ms);
      process.send!({ ok: true });
      break;
    case 'calls':
      process.send!({ calls: google.calls });
      break;
    case 'close':
      void google.close().then(() => process.exit(0));
      break;
  }
});
process.send!({ url: google.url });
