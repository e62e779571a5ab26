import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake of Google Cloud Storage for tests: the JSON API as @google-cloud/storage speaks it
 * (buckets, object insert as media/multipart/resumable upload, get, `alt=media`, patch, list with
 * prefix/startOffset/pageToken, delete, generation preconditions answered with 412, predefined
 * ACLs refused on uniform buckets) and the public XML-style reads of storage.googleapis.com
 * (`GET /{bucket}/{object}`, anonymous, allowed only for publicly readable objects).
 * Errors have Google's shapes. Faults can be injected; counters say what was written.
 */
export interface FakeGcs {
  url: string;
  close(): Promise<void>;
  /** What the fake did since start (or the last resetStats). */
  stats(): FakeGcsStats;
  resetStats(): void;
  /** The next `count` requests that match `when` (default: all) fail with `status` (and `body`). */
  fail(options: {
    status: number;
    count?: number;
    when?: (req: FaultMatch) => boolean;
    body?: string;
    contentType?: string;
  }): void;
  /** The next `count` matching requests get no answer at all (a GCS front end that stalls) until close. */
  hang(options?: { count?: number; when?: (req: FaultMatch) => boolean }): void;
  /** Delay every request by this many milliseconds (0: none). */
  setLatency(ms: number): void;
  /** Names of the live objects of a bucket under a prefix, for assertions. */
  objectNames(bucket: string, prefix?: string): string[];
}

/** What a fault's `when` sees of a request: the object is the decoded name from the path or `?name=`. */
export interface FaultMatch {
  method: string;
  path: string;
  object?: string;
}

export interface FakeGcsStats {
  requests: number;
  /** Objects created or replaced (every successful insert). */
  objectWrites: number;
  metadataPatches: number;
  objectDeletes: number;
  mediaReads: number;
  metadataReads: number;
  lists: number;
  publicReads: number;
  preconditionFailures: number;
}

interface StoredObject {
  name: string;
  data: Buffer;
  contentType: string;
  cacheControl?: string;
  metadata?: Record<string, string>;
  generation: string;
  metageneration: number;
  md5Hash: string;
  crc32c: string;
  timeCreated: string;
  updated: string;
  /** The object's ACL on fine-grained buckets: who besides the owner may read it. */
  acl:
    | 'private'
    | 'projectPrivate'
    | 'publicRead'
    | 'authenticatedRead'
    | 'bucketOwnerRead'
    | 'bucketOwnerFullControl';
}

interface Bucket {
  name: string;
  uniform: boolean;
  timeCreated: string;
  objects: Map<string, StoredObject>;
  /** Object names in lexicographic order, kept as objects come and go (listing is a binary search). */
  names: string[];
  iamBindings: Array<{ role: string; members: string[] }>;
  iamEtag: number;
}

interface Upload {
  bucket: string;
  name: string;
  params: URLSearchParams;
  metadata: Record<string, unknown>;
  contentType: string;
  chunks: Buffer[];
  received: number;
}

const PREDEFINED_ACLS = new Set([
  'authenticatedRead',
  'bucketOwnerFullControl',
  'bucketOwnerRead',
  'private',
  'projectPrivate',
  'publicRead',
]);
const PUBLIC_READ_ROLES = new Set([
  'roles/storage.objectViewer',
  'roles/storage.legacyObjectReader',
]);
const MAX_LIST_RESULTS = 1000;

class GcsError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

export async function startFakeGcs(): Promise<FakeGcs> {
  const buckets = new Map<string, Bucket>();
  const uploads = new Map<string, Upload>();
  const faults: Array<{
    status: number;
    remaining: number;
    when: (req: FaultMatch) => boolean;
    body?: string;
    contentType?: string;
    hang?: true;
  }> = [];
  let counters = emptyStats();
  let latencyMs = 0;
  let lastGeneration = 0;
  let baseUrl = '';

  /** Real generations are microsecond timestamps; strictly increasing here. */
  const nextGeneration = (): string => {
    lastGeneration = Math.max(lastGeneration + 1, Date.now() * 1000);
    return String(lastGeneration);
  };

  const bucketOf = (name: string): Bucket => {
    const bucket = buckets.get(name);
    if (!bucket) throw new GcsError(404, 'The specified bucket does not exist.', 'notFound');
    return bucket;
  };

  const objectResource = (bucket: Bucket, object: StoredObject) => ({
    kind: 'storage#object',
    id: `${bucket.name}/${object.name}/${object.generation}`,
    selfLink: `${baseUrl}/storage/v1/b/${bucket.name}/o/${encodeURIComponent(object.name)}`,
    mediaLink: `${baseUrl}/download/storage/v1/b/${bucket.name}/o/${encodeURIComponent(object.name)}?generation=${object.generation}&alt=media`,
    name: object.name,
    bucket: bucket.name,
    generation: object.generation,
    metageneration: String(object.metageneration),
    contentType: object.contentType,
    storageClass: 'STANDARD',
    size: String(object.data.byteLength),
    md5Hash: object.md5Hash,
    crc32c: object.crc32c,
    etag: etagOf(object),
    timeCreated: object.timeCreated,
    updated: object.updated,
    timeStorageClassUpdated: object.timeCreated,
    ...(object.cacheControl !== undefined ? { cacheControl: object.cacheControl } : {}),
    ...(object.metadata !== undefined ? { metadata: object.metadata } : {}),
  });

  const bucketResource = (bucket: Bucket) => ({
    kind: 'storage#bucket',
    id: bucket.name,
    name: bucket.name,
    location: 'US',
    storageClass: 'STANDARD',
    timeCreated: bucket.timeCreated,
    updated: bucket.timeCreated,
    metageneration: '1',
    etag: 'CAE=',
    iamConfiguration: {
      uniformBucketLevelAccess: { enabled: bucket.uniform },
      bucketPolicyOnly: { enabled: bucket.uniform },
    },
  });

  /** Generation and metageneration preconditions of the JSON API, checked against the live object. */
  const checkPreconditions = (params: URLSearchParams, current: StoredObject | undefined): void => {
    const ifGenerationMatch = params.get('ifGenerationMatch');
    const ifGenerationNotMatch = params.get('ifGenerationNotMatch');
    const ifMetagenerationMatch = params.get('ifMetagenerationMatch');
    const failed = (location: string): GcsError => {
      counters.preconditionFailures++;
      return new GcsError(
        412,
        'At least one of the pre-conditions you specified did not hold.',
        'conditionNotMet',
        { locationType: 'header', location },
      );
    };
    if (ifGenerationMatch !== null) {
      if (!/^\d+$/.test(ifGenerationMatch))
        throw new GcsError(
          400,
          `Invalid argument for ifGenerationMatch: ${ifGenerationMatch.slice(0, 40)}`,
          'invalid',
        );
      const live = current?.generation ?? '0';
      if (live !== ifGenerationMatch) throw failed('If-Match');
    }
    if (ifGenerationNotMatch !== null && (current?.generation ?? '0') === ifGenerationNotMatch)
      throw failed('If-None-Match');
    if (
      ifMetagenerationMatch !== null &&
      (!current || String(current.metageneration) !== ifMetagenerationMatch)
    )
      throw failed('If-Metageneration-Match');
  };

  const insertObject = (
    bucket: Bucket,
    name: string,
    params: URLSearchParams,
    metadata: Record<string, unknown>,
    contentType: string,
    data: Buffer,
  ): StoredObject => {
    if (!name) throw new GcsError(400, 'Required', 'required');
    if (
      Buffer.byteLength(name) > 1024 ||
      name.includes('\n') ||
      name.includes('\r') ||
      name === '.' ||
      name === '..'
    )
      throw new GcsError(400, 'The specified object name is not valid.', 'invalid');
    const predefinedAcl = params.get('predefinedAcl');
    if (predefinedAcl !== null) {
      if (!PREDEFINED_ACLS.has(predefinedAcl))
        throw new GcsError(
          400,
          `Invalid argument for predefinedAcl: ${predefinedAcl.slice(0, 40)}`,
          'invalid',
        );
      if (bucket.uniform) {
        throw new GcsError(
          400,
          'Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access',
          'invalid',
        );
      }
    }
    const md5Hash = createHash('md5').update(data).digest('base64');
    const crc32c = crc32cBase64(data);
    // The client may send the hashes it computed; GCS refuses the upload when they do not match.
    if (typeof metadata.md5Hash === 'string' && metadata.md5Hash !== md5Hash)
      throw new GcsError(
        400,
        'Provided MD5 hash "' +
          metadata.md5Hash +
          '" doesn\'t match calculated MD5 hash "' +
          md5Hash +
          '".',
        'invalid',
      );
    if (typeof metadata.crc32c === 'string' && metadata.crc32c !== crc32c)
      throw new GcsError(
        400,
        'Provided CRC32C "' +
          metadata.crc32c +
          '" doesn\'t match calculated CRC32C "' +
          crc32c +
          '".',
        'invalid',
      );
    const current = bucket.objects.get(name);
    checkPreconditions(params, current);
    const now = new Date().toISOString();
    const object: StoredObject = {
      name,
      data,
      contentType:
        (typeof metadata.contentType === 'string' && metadata.contentType) ||
        contentType ||
        'application/octet-stream',
      generation: nextGeneration(),
      metageneration: 1,
      md5Hash,
      crc32c,
      timeCreated: now,
      updated: now,
      acl: (predefinedAcl as StoredObject['acl'] | null) ?? 'projectPrivate',
      ...(typeof metadata.cacheControl === 'string' ? { cacheControl: metadata.cacheControl } : {}),
      ...(metadata.metadata && typeof metadata.metadata === 'object'
        ? { metadata: stringValues(metadata.metadata as Record<string, unknown>) }
        : {}),
    };
    if (!current) bucket.names.splice(lowerBound(bucket.names, name), 0, name);
    bucket.objects.set(name, object);
    counters.objectWrites++;
    return object;
  };

  const liveObject = (bucket: Bucket, name: string, params: URLSearchParams): StoredObject => {
    const object = bucket.objects.get(name);
    const generation = params.get('generation');
    if (!object || (generation !== null && generation !== object.generation)) {
      throw new GcsError(404, `No such object: ${bucket.name}/${name}`, 'notFound');
    }
    return object;
  };

  async function handleJsonApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const params = url.searchParams;

    // Buckets
    if (path === '/storage/v1/b' && method === 'POST') {
      const body = parseJson(await readBody(req));
      const name = typeof body.name === 'string' ? body.name : '';
      if (!/^[a-z0-9][-_.a-z0-9]{1,221}[a-z0-9]$/.test(name))
        throw new GcsError(400, 'Invalid bucket name', 'invalid');
      if (!params.get('project'))
        throw new GcsError(400, 'Required parameter: project', 'required');
      if (buckets.has(name))
        throw new GcsError(
          409,
          'Your previous request to create the named bucket succeeded and you already own it.',
          'conflict',
        );
      const iam = body.iamConfiguration as
        { uniformBucketLevelAccess?: { enabled?: boolean } } | undefined;
      const bucket: Bucket = {
        name,
        uniform: iam?.uniformBucketLevelAccess?.enabled === true,
        timeCreated: new Date().toISOString(),
        objects: new Map(),
        names: [],
        iamBindings: [],
        iamEtag: 1,
      };
      buckets.set(name, bucket);
      return sendJson(res, 200, bucketResource(bucket));
    }
    let match = /^\/storage\/v1\/b\/([^/]+)$/.exec(path);
    if (match) {
      const bucket = bucketOf(decodeURIComponent(match[1]!));
      if (method === 'GET') return sendJson(res, 200, bucketResource(bucket));
      if (method === 'DELETE') {
        if (bucket.objects.size > 0)
          throw new GcsError(409, 'The bucket you tried to delete is not empty.', 'conflict');
        buckets.delete(bucket.name);
        return sendEmpty(res, 204);
      }
      throw new GcsError(405, 'Method not allowed', 'methodNotAllowed');
    }
    match = /^\/storage\/v1\/b\/([^/]+)\/iam$/.exec(path);
    if (match) {
      const bucket = bucketOf(decodeURIComponent(match[1]!));
      if (method === 'PUT') {
        const body = parseJson(await readBody(req));
        bucket.iamBindings = Array.isArray(body.bindings)
          ? (body.bindings as Bucket['iamBindings'])
          : [];
        bucket.iamEtag++;
      } else if (method !== 'GET') {
        throw new GcsError(405, 'Method not allowed', 'methodNotAllowed');
      }
      return sendJson(res, 200, {
        kind: 'storage#policy',
        resourceId: `projects/_/buckets/${bucket.name}`,
        version: 1,
        etag: Buffer.from(String(bucket.iamEtag)).toString('base64'),
        bindings: bucket.iamBindings,
      });
    }

    // Uploads: media, multipart and resumable, as the client library sends them.
    match = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (match) {
      const bucket = bucketOf(decodeURIComponent(match[1]!));
      const uploadType = params.get('uploadType');
      const uploadId = params.get('upload_id');
      if (uploadType === 'resumable' && uploadId !== null)
        return continueResumable(req, res, uploadId);
      if (method !== 'POST') throw new GcsError(405, 'Method not allowed', 'methodNotAllowed');
      const body = await readBody(req);
      if (uploadType === 'media') {
        const object = insertObject(
          bucket,
          params.get('name') ?? '',
          params,
          {},
          req.headers['content-type'] ?? '',
          body,
        );
        return sendJson(res, 200, objectResource(bucket, object));
      }
      if (uploadType === 'multipart') {
        const parts = parseMultipartRelated(req.headers['content-type'] ?? '', body);
        const metadata = parseJson(parts[0]!.body);
        const name = typeof metadata.name === 'string' ? metadata.name : (params.get('name') ?? '');
        const object = insertObject(
          bucket,
          name,
          params,
          metadata,
          parts[1]!.contentType,
          parts[1]!.body,
        );
        return sendJson(res, 200, objectResource(bucket, object));
      }
      if (uploadType === 'resumable') {
        const metadata = body.byteLength > 0 ? parseJson(body) : {};
        const name = typeof metadata.name === 'string' ? metadata.name : (params.get('name') ?? '');
        if (!name) throw new GcsError(400, 'Required', 'required');
        const id = randomBytes(12).toString('base64url');
        uploads.set(id, {
          bucket: bucket.name,
          name,
          params,
          metadata,
          contentType: String(req.headers['x-upload-content-type'] ?? metadata.contentType ?? ''),
          chunks: [],
          received: 0,
        });
        res.writeHead(200, {
          location: `${baseUrl}/upload/storage/v1/b/${bucket.name}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`,
          'content-length': '0',
        });
        res.end();
        return;
      }
      throw new GcsError(400, `Invalid upload type: ${String(uploadType).slice(0, 40)}`, 'invalid');
    }

    // Objects
    match = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (match) {
      const bucket = bucketOf(decodeURIComponent(match[1]!));
      const name = decodeURIComponent(match[2]!);
      if (method === 'GET') {
        const object = liveObject(bucket, name, params);
        checkPreconditions(params, object);
        if (params.get('alt') === 'media') {
          counters.mediaReads++;
          res.writeHead(200, {
            ...storedHeaders(object),
            'content-type': object.contentType,
            'content-length': String(object.data.byteLength),
            ...(object.cacheControl ? { 'cache-control': object.cacheControl } : {}),
          });
          res.end(object.data);
          return;
        }
        counters.metadataReads++;
        return sendJson(res, 200, objectResource(bucket, object));
      }
      if (method === 'PATCH' || method === 'PUT') {
        const object = liveObject(bucket, name, params);
        checkPreconditions(params, object);
        const patch = parseJson(await readBody(req));
        if (typeof patch.contentType === 'string') object.contentType = patch.contentType;
        if (typeof patch.cacheControl === 'string') object.cacheControl = patch.cacheControl;
        if (patch.metadata && typeof patch.metadata === 'object') {
          const merged: Record<string, string> = { ...object.metadata };
          for (const [key, value] of Object.entries(patch.metadata as Record<string, unknown>)) {
            if (value === null) delete merged[key];
            else merged[key] = String(value);
          }
          object.metadata = merged;
        }
        object.metageneration++;
        object.updated = new Date().toISOString();
        counters.metadataPatches++;
        return sendJson(res, 200, objectResource(bucket, object));
      }
      if (method === 'DELETE') {
        const object = liveObject(bucket, name, params);
        checkPreconditions(params, object);
        bucket.objects.delete(name);
        bucket.names.splice(lowerBound(bucket.names, name), 1);
        counters.objectDeletes++;
        return sendEmpty(res, 204);
      }
      throw new GcsError(405, 'Method not allowed', 'methodNotAllowed');
    }

    match = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (match && method === 'GET') {
      const bucket = bucketOf(decodeURIComponent(match[1]!));
      counters.lists++;
      return sendJson(res, 200, listObjects(bucket, params));
    }
    throw new GcsError(404, 'Not Found', 'notFound');
  }

  const listObjects = (bucket: Bucket, params: URLSearchParams) => {
    const prefix = params.get('prefix') ?? '';
    const delimiter = params.get('delimiter');
    const startOffset = params.get('startOffset');
    const endOffset = params.get('endOffset');
    const maxResultsParam = params.get('maxResults');
    const maxResults = maxResultsParam === null ? MAX_LIST_RESULTS : Number(maxResultsParam);
    if (!Number.isInteger(maxResults) || maxResults < 1)
      throw new GcsError(
        400,
        `Invalid argument for maxResults: ${String(maxResultsParam).slice(0, 20)}`,
        'invalid',
      );
    const pageToken = params.get('pageToken');
    let after: string | undefined;
    if (pageToken !== null) {
      try {
        after = Buffer.from(pageToken, 'base64url').toString('utf8');
      } catch {
        throw new GcsError(400, 'Invalid page token', 'invalid');
      }
    }
    // Start at the first name that can qualify; names are kept sorted.
    let start = lowerBound(
      bucket.names,
      [prefix, startOffset ?? ''].reduce((a, b) => (a > b ? a : b)),
    );
    if (after !== undefined) start = Math.max(start, lowerBound(bucket.names, after));
    const names: string[] = [];
    for (let i = start; i < bucket.names.length; i++) {
      const name = bucket.names[i]!;
      if (!name.startsWith(prefix) || (endOffset !== null && name >= endOffset)) break;
      names.push(name);
      if (!delimiter && names.length > MAX_LIST_RESULTS + 1) break;
    }
    const items: ReturnType<typeof objectResource>[] = [];
    const prefixes = new Set<string>();
    let nextPageToken: string | undefined;
    for (const name of names) {
      if (after !== undefined && name <= after) continue;
      if (items.length + prefixes.size >= Math.min(maxResults, MAX_LIST_RESULTS)) {
        nextPageToken = Buffer.from(after ?? '').toString('base64url');
        break;
      }
      const rest = name.slice(prefix.length);
      const cut = delimiter ? rest.indexOf(delimiter) : -1;
      if (delimiter && cut !== -1) prefixes.add(prefix + rest.slice(0, cut + delimiter.length));
      else items.push(objectResource(bucket, bucket.objects.get(name)!));
      after = name;
    }
    return {
      kind: 'storage#objects',
      ...(items.length > 0 ? { items } : {}),
      ...(prefixes.size > 0 ? { prefixes: [...prefixes] } : {}),
      ...(nextPageToken !== undefined ? { nextPageToken } : {}),
    };
  };

  async function continueResumable(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    const upload = uploads.get(id);
    if (!upload) throw new GcsError(404, 'No such upload', 'notFound');
    if (req.method !== 'PUT' && req.method !== 'POST')
      throw new GcsError(405, 'Method not allowed', 'methodNotAllowed');
    const body = await readBody(req);
    const range = String(req.headers['content-range'] ?? '');
    // "bytes */*" or "bytes */N": a status query; "bytes A-B/N" or "bytes A-B/*": a chunk.
    const query = /^bytes \*\/(\d+|\*)$/.exec(range);
    const chunk = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range);
    let total: number | undefined;
    if (query) {
      if (query[1] !== '*') total = Number(query[1]);
    } else if (chunk) {
      if (Number(chunk[1]) !== upload.received)
        throw new GcsError(
          400,
          `Invalid request. The content range start ${chunk[1]} does not match the bytes received ${upload.received}.`,
          'invalid',
        );
      upload.chunks.push(body);
      upload.received += body.byteLength;
      // "A-*": the client streams the rest in this request, so it ends the upload.
      if (chunk[3] !== '*') total = Number(chunk[3]);
      else if (chunk[2] === '*') total = upload.received;
    } else if (range === '') {
      upload.chunks.push(body);
      upload.received += body.byteLength;
      total = upload.received;
    } else {
      throw new GcsError(400, 'Invalid Content-Range', 'invalid');
    }
    if (total !== undefined && upload.received >= total) {
      uploads.delete(id);
      const bucket = bucketOf(upload.bucket);
      const object = insertObject(
        bucket,
        upload.name,
        upload.params,
        upload.metadata,
        upload.contentType,
        Buffer.concat(upload.chunks),
      );
      return sendJson(res, 200, objectResource(bucket, object));
    }
    res.writeHead(308, {
      ...(upload.received > 0 ? { range: `bytes=0-${upload.received - 1}` } : {}),
      'content-length': '0',
    });
    res.end();
  }

  /** storage.googleapis.com/{bucket}/{object}: anonymous reads of public objects. */
  function handlePublicRead(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const method = req.method ?? 'GET';
    const slash = url.pathname.indexOf('/', 1);
    const bucketName = decodeURIComponent(
      slash === -1 ? url.pathname.slice(1) : url.pathname.slice(1, slash),
    );
    const name = slash === -1 ? '' : decodeURIComponent(url.pathname.slice(slash + 1));
    if (method !== 'GET' && method !== 'HEAD')
      return sendXmlError(
        res,
        405,
        'MethodNotAllowed',
        'The specified method is not allowed against this resource.',
      );
    counters.publicReads++;
    const bucket = buckets.get(bucketName);
    if (!bucket)
      return sendXmlError(res, 404, 'NoSuchBucket', 'The specified bucket does not exist.');
    const object = bucket.objects.get(name);
    const publicBucket = bucket.iamBindings.some(
      (b) => PUBLIC_READ_ROLES.has(b.role) && b.members.includes('allUsers'),
    );
    const readable =
      object && (bucket.uniform ? publicBucket : object.acl === 'publicRead' || publicBucket);
    if (!readable) {
      if (!object && publicBucket)
        return sendXmlError(
          res,
          404,
          'NoSuchKey',
          'The specified key does not exist.',
          `No such object: ${bucket.name}/${name}`,
        );
      // GCS does not reveal whether a non-public object exists.
      return sendXmlError(
        res,
        403,
        'AccessDenied',
        'Access denied.',
        `Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist).`,
      );
    }
    const etag = `"${Buffer.from(object.md5Hash, 'base64').toString('hex')}"`;
    const headers: Record<string, string> = {
      ...storedHeaders(object),
      'content-type': object.contentType,
      'cache-control': object.cacheControl ?? 'public, max-age=3600',
      etag,
      'last-modified': new Date(object.updated).toUTCString(),
      'accept-ranges': 'bytes',
    };
    const inm = req.headers['if-none-match'];
    if (
      inm &&
      inm.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*')
    ) {
      res.writeHead(304, {
        etag,
        'cache-control': headers['cache-control']!,
        'x-goog-generation': object.generation,
      });
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(object.data.byteLength) });
    res.end(method === 'HEAD' ? undefined : object.data);
  }

  const server = createServer((req, res) => {
    void (async () => {
      counters.requests++;
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const url = new URL(req.url ?? '/', 'http://fake-gcs');
      const object =
        /\/o\/([^/]+)$/.exec(url.pathname)?.[1] ?? url.searchParams.get('name') ?? undefined;
      const match: FaultMatch = {
        method: req.method ?? 'GET',
        path: url.pathname,
        ...(object !== undefined ? { object: safeDecode(object) } : {}),
      };
      const fault = faults.find((f) => f.remaining > 0 && f.when(match));
      if (fault) {
        fault.remaining--;
        await readBody(req).catch(() => Buffer.alloc(0));
        if (fault.hang) return; // the connection stays open, unanswered, until the client gives up or close()
        const body =
          fault.body ??
          JSON.stringify({
            error: {
              code: fault.status,
              message: 'Backend Error',
              errors: [{ message: 'Backend Error', domain: 'global', reason: 'backendError' }],
            },
          });
        res.writeHead(fault.status, {
          'content-type': fault.contentType ?? 'application/json; charset=UTF-8',
          'content-length': String(Buffer.byteLength(body)),
        });
        res.end(body);
        return;
      }
      try {
        if (/^\/(?:upload\/|download\/)?storage\/v1\//.test(url.pathname))
          await handleJsonApi(req, res, url);
        else handlePublicRead(req, res, url);
      } catch (err) {
        if (err instanceof GcsError) {
          sendJson(res, err.status, {
            error: {
              code: err.status,
              message: err.message,
              errors: [
                { message: err.message, domain: 'global', reason: err.reason, ...err.extra },
              ],
            },
          });
        } else {
          sendJson(res, 500, {
            error: {
              code: 500,
              message: 'Internal error in the GCS fake',
              errors: [{ message: String(err), domain: 'global', reason: 'backendError' }],
            },
          });
        }
      }
    })();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    stats: () => ({ ...counters }),
    resetStats: () => {
      counters = emptyStats();
    },
    fail: ({ status, count = 1, when = () => true, body, contentType }) => {
      faults.push({
        status,
        remaining: count,
        when,
        ...(body !== undefined ? { body } : {}),
        ...(contentType !== undefined ? { contentType } : {}),
      });
    },
    hang: ({ count = 1, when = () => true } = {}) => {
      faults.push({ status: 0, remaining: count, when, hang: true });
    },
    setLatency: (ms) => {
      latencyMs = ms;
    },
    objectNames: (bucket, prefix = '') =>
      [...(buckets.get(bucket)?.objects.keys() ?? [])].filter((n) => n.startsWith(prefix)).sort(),
  };
}

/** The index of the first element of `sorted` that is not less than `value`. */
function lowerBound(sorted: readonly string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function emptyStats(): FakeGcsStats {
  return {
    requests: 0,
    objectWrites: 0,
    metadataPatches: 0,
    objectDeletes: 0,
    mediaReads: 0,
    metadataReads: 0,
    lists: 0,
    publicReads: 0,
    preconditionFailures: 0,
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function storedHeaders(object: StoredObject): Record<string, string> {
  return {
    'x-goog-generation': object.generation,
    'x-goog-metageneration': String(object.metageneration),
    'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
    'x-goog-stored-content-length': String(object.data.byteLength),
    'x-goog-stored-content-encoding': 'identity',
    'x-goog-storage-class': 'STANDARD',
  };
}

function etagOf(object: StoredObject): string {
  return Buffer.from(`${object.generation}/${object.metageneration}`).toString('base64');
}

function stringValues(input: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(input))
    if (value !== null && value !== undefined) out[key] = String(value);
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): Record<string, unknown> {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new GcsError(400, 'Parse Error', 'parseError');
}

/** multipart/related as the client sends an upload: a JSON metadata part, then the media. */
function parseMultipartRelated(
  contentType: string,
  body: Buffer,
): Array<{ contentType: string; body: Buffer }> {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!/^multipart\/related/i.test(contentType) || !boundary)
    throw new GcsError(
      400,
      'Invalid multipart request: expected multipart/related with a boundary',
      'invalid',
    );
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Array<{ contentType: string; body: Buffer }> = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    let start = at + delimiter.byteLength;
    if (body.subarray(start, start + 2).toString() === '--') break;
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    let part = body.subarray(start, next);
    if (part.subarray(-2).toString() === '\r\n') part = part.subarray(0, -2);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd === -1)
      throw new GcsError(400, 'Invalid multipart request: a part has no header', 'invalid');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    parts.push({
      contentType: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1]?.trim() ?? '',
      body: part.subarray(headerEnd + 4),
    });
    at = next;
  }
  if (parts.length !== 2)
    throw new GcsError(
      400,
      `Invalid multipart request with ${parts.length} parts; expected metadata and media`,
      'invalid',
    );
  return parts;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0' });
  res.end();
}

function sendXmlError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  details?: string,
): void {
  const text = `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${message}</Message>${details ? `<Details>${escapeXml(details)}</Details>` : ''}</Error>`;
  res.writeHead(status, {
    'content-type': 'application/xml; charset=UTF-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'private, max-age=0',
  });
  res.end(text);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli) as GCS reports it: big-endian, base64. */
export function crc32cBase64(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}
