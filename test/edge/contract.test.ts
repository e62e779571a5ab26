import { describeIssuerContract } from '../contract/issuer-contract.js';
import { edgeIssuerHost, serveOrigin, staticBucketOrigin } from '../support/edge-origins.js';

// The Worker (bundled by wrangler, run in workerd) passes the same contract as `idbridge serve`,
// in front of each kind of origin. Revalidating on every request (fresh TTL 0) runs the ETag
// path with the origin on each call; a fresh TTL of 1 s runs the cached path.
describeIssuerContract('edge Worker in workerd (origin: idbridge serve, fresh TTL 0)', () => edgeIssuerHost(serveOrigin));
describeIssuerContract('edge Worker in workerd (origin: GCS bucket layout, fresh TTL 1 s)', () => edgeIssuerHost(staticBucketOrigin, { freshSeconds: 1 }));
// The GCS JSON API fake (test/fakes/gcs.ts) plugs in the same way, as one more line:
//   describeIssuerContract('edge Worker in workerd (origin: GCS fake)', () => edgeIssuerHost(bucketOrigin(openFakeGcsBucket)));
