// The Cloudflare Worker entry: hands the runtime's fetch, cache and console to the edge app.
import { edgeWorker } from '../src/hosts/workers/worker-host.js';

export default edgeWorker({
  fetch: (input, init) => fetch(input, init),
  cache: () => caches.default,
  log: (line) => console.log(line),
}) satisfies ExportedHandler<Record<string, unknown>>;
