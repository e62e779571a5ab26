// `idbridge serve` as the CLI runs it, with the fast paths off (hono routes only): the "hono only"
// rows of the issuer and broker benchmarks, to show what each fast path buys. Needs `npm run build`.
import { runServe } from '../../dist/src/hosts/node/serve.js';

process.exitCode = await runServe(process.env, {}, { fastPaths: false });
