// The floor of any extra hop: a bare Node HTTP server that forwards each POST to the upstream over
// a kept-alive connection and relays the answer, checking nothing. Run as its own process, like
// the broker, so the comparison includes the same scheduling. Prints its URL on stdout.
import http from 'node:http';

const upstream = new URL(process.argv[2]);
const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        agent,
        headers: {
          'content-type': req.headers['content-type'] ?? '',
          'content-length': body.length,
        },
      },
      (answer) => {
        const out = [];
        answer.on('data', (chunk) => out.push(chunk));
        answer.on('end', () => {
          res.writeHead(answer.statusCode ?? 502, {
            'content-type': answer.headers['content-type'] ?? 'application/json',
          });
          res.end(Buffer.concat(out));
        });
      },
    );
    forward.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    forward.end(body);
  });
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`http://127.0.0.1:${server.address().port}\n`),
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
