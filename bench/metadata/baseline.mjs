// Baseline: the cheapest possible metadata endpoint. node:http, one precomputed token answer with
// the same headers: what any metadata server costs before doing anything.
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const body = JSON.stringify({
  access_token: `ya29.constant.${'x'.repeat(200)}`,
  expires_in: 3599,
  token_type: 'Bearer',
});
const headers = {
  'metadata-flavor': 'Google',
  server: 'GKE Metadata Server',
  'content-type': 'application/json',
  'cache-control': 'no-store',
  'content-length': String(Buffer.byteLength(body)),
};
const server = createServer((req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
