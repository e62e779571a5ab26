import { describeIssuerContract } from '../contract/issuer-contract.js';
import { edgeIssuerHost, serveOrigin, staticBucketOrigin } from '../support/edge-origins.js';

// The Worker (bundled by wrangler, run in workerd) passes the same contract as `idbridge serve`,
// in front of each kind of origin. Revalidating on every request (fresh TTL 0) runs the ETag
// path with the origin on each call; a fresh TTL of 1 s runs the cached path.
describeIssuerContract('edge Worker in workerd (origin: idbridge serve, fresh TTL 0)', () => edgeIssuerHost(serveOrigin));
describeIssuerContract('edge Worker in workerd (origin: GCS bucket layout, fresh TTL 1 s)', () => edgeIssuerHost(staticBucketOrigin, { freshSeconds: 1 }));
// The GCS JSON API fake (test/fakes/gcs.ts) plugs in the same way: bucketOrigin() only needs a
// way to write objects (@google-cloud/storage against the fake) and where public reads go:
//   describeIssuerContract('edge Worker in workerd (origin: GCS fake)', () => edgeIssuerHost(bucketOrigin(async () => {
//     const gcs = await startFakeGcs();
//     const storage = new Storage({ apiEndpoint: gcs.url, projectId: 'edge-test' });
//     const [bucket] = await storage.createBucket('edge-test-bucket');
//     return {
//       writer: {
//         putObject: (name, body, contentType) => bucket.file(name).save(body, { contentType, predefinedAcl: 'publicRead' }),
//         deleteObject: (name) => bucket.file(name).delete().then(() => {}),
//       },
//       gcsUrl: gcs.url, bucket: bucket.name, close: gcs.close,
//     };
//   })));
