import { describeIssuerContract } from '../contract/issuer-contract.js';
import {
  edgeIssuerHost,
  gcsStoreOrigin,
  serveOrigin,
  staticBucketOrigin,
} from '../support/edge-origins.js';

// The Worker (bundled by wrangler, run in workerd) passes the same contract as `idbridge serve`,
// in front of each kind of origin. Revalidating on every request (fresh TTL 0) runs the ETag
// path with the origin on each call; a fresh TTL of 1 s runs the cached path.
describeIssuerContract('edge Worker in workerd (origin: idbridge serve, fresh TTL 0)', () =>
  edgeIssuerHost(serveOrigin),
);
describeIssuerContract('edge Worker in workerd (origin: GCS bucket layout, fresh TTL 1 s)', () =>
  edgeIssuerHost(staticBucketOrigin, { freshSeconds: 1 }),
);
// Production's path: the registration API on the GCS store writes the bucket (the GCS JSON API
// fake, through @google-cloud/storage), the Worker reads its public object URLs.
describeIssuerContract('edge Worker in workerd (origin: GCS bucket written by the GCS store)', () =>
  edgeIssuerHost(gcsStoreOrigin, { freshSeconds: 1 }),
);
