import { clusterStateSchema, type ClusterState } from './cluster-state.js';

/** The part of the Workers Cache API (`caches.default`) the edge uses. */
export interface EdgeCache {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
}

/** Cluster states shared by the isolates of one edge location. */
export interface SharedStates {
  get(cluster: string): Promise<ClusterState | undefined>;
  /** Keeps `state` for about `ttlSeconds` (the cache may drop it sooner). */
  put(state: ClusterState, ttlSeconds: number): Promise<void>;
}

/**
 * Cluster states kept in the Workers Cache API, under URLs on the Worker's own host that no
 * route serves. A state that does not parse (another version, a damaged entry) is ignored.
 * `cache` is asked for on each use: the runtime hands out `caches.default` inside requests.
 */
export function cacheApiStates(cache: () => EdgeCache, publicUrl: string): SharedStates {
  const key = (cluster: string) => `${publicUrl}/.idbridge-edge/state/v1/${cluster}`;
  return {
    async get(cluster) {
      const res = await cache().match(key(cluster));
      if (!res) return undefined;
      let value: unknown;
      try {
        value = await res.json();
      } catch {
        return undefined;
      }
      const parsed = clusterStateSchema.safeParse(value);
      return parsed.success && parsed.data.cluster === cluster ? parsed.data : undefined;
    },
    async put(state, ttlSeconds) {
      await cache().put(
        key(state.cluster),
        new Response(JSON.stringify(state), {
          headers: {
            'content-type': 'application/json',
            'cache-control': `public, max-age=${Math.max(1, Math.ceil(ttlSeconds))}`,
          },
        }),
      );
    },
  };
}
