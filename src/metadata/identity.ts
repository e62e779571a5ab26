/** Who a metadata request speaks for: one pod's Kubernetes ServiceAccount and how it gets Google tokens. */
export interface PodIdentity {
  namespace: string;
  serviceAccount: string;
  /** Google service account to impersonate (iam.gke.io/gcp-service-account or the credential config's impersonation URL); absent for direct access. */
  googleServiceAccount?: string;
  /** The Workload Identity Federation audience, //iam.googleapis.com/projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV. */
  audience: string;
  /** Where the subject token is exchanged (Google STS or the idbridge broker), from the credential configuration. */
  tokenUrl: string;
  /** IAM Credentials base for generateAccessToken/generateIdToken (Google or the broker). */
  iamCredentialsUrl: string;
  /** The pod's current ServiceAccount token for `audience` (a rotated file is re-read; node mode asks TokenRequest). */
  subjectToken(): Promise<string>;
  /** Stable key for caches: namespace/serviceAccount/googleServiceAccount/audience. */
  key: string;
}

export type IdentityAnswer =
  | { ok: true; identity: PodIdentity }
  | { ok: false; status: 403 | 429 | 500 | 503; message: string };

/** Sidecar mode: always the one pod. Node mode: the pod that owns the request's source address. */
export interface IdentityResolver {
  /** Synchronous when the answer is already known (the sidecar's one pod), so the warm path needs no promise. */
  resolve(request: { remoteAddress: string }): IdentityAnswer | Promise<IdentityAnswer>;
  close?(): Promise<void>;
}
