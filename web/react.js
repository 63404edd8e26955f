// React bindings for Hearth (`@hearthdb/hearth/react`): a provider for an
// open database and hooks for it, its live queries and its sync status.
// Plain ESM without JSX; react (>= 18, for useSyncExternalStore) is an
// optional peer dependency. See react.d.ts for the typed API.
import { createContext, createElement, useContext, useMemo, useSyncExternalStore } from 'react';
/** @import * as api from './react.js' */
/** @import { Database, HearthError, Params, QueryResult, ResultChange, SyncStatus } from './hearth.js' */

/** @type {import('react').Context<Database | null>} */
const DatabaseContext = createContext(/** @type {Database | null} */ (null));

/**
 * Makes db the database of the components below it.
 * @type {typeof api.HearthProvider}
 */
export function HearthProvider({ db, children }) {
  return createElement(DatabaseContext.Provider, { value: db }, children);
}

/**
 * The database of the nearest HearthProvider.
 * @type {typeof api.useDatabase}
 */
export function useDatabase() {
  const db = useContext(DatabaseContext);
  if (!db) throw new Error('Hearth: useDatabase, useQuery and useSyncStatus need a <HearthProvider db={db}> above them');
  return db;
}

/**
 * A key equal for equal parameter values: the hooks re-subscribe when it
 * changes, not when an app passes a new array with the same values on every
 * render. Named parameters compare whatever their order; bigints, bytes and
 * non-finite numbers keep their identity (JSON alone would not).
 * @type {typeof api.paramsKey}
 */
export function paramsKey(params) {
  return JSON.stringify(params ?? null, (_, value) => {
    if (typeof value === 'bigint') return { bigint: value.toString() };
    if (typeof value === 'number' && !Number.isFinite(value)) return { number: String(value) };
    if (value instanceof Uint8Array) return { bytes: Array.from(value) };
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      /** @type {Record<string, unknown>} */
      const sorted = {};
      for (const k of Object.keys(value).sort()) sorted[k] = value[k];
      return sorted;
    }
    return value;
  });
}

/**
 * An external store (for useSyncExternalStore) over one Hearth
 * subscription: started by the first listener, ended by the last one
 * leaving. The subscription starts asynchronously; if every listener left
 * meanwhile it is ended as soon as it has started, and whatever it still
 * delivers is dropped (generation).
 * @template T
 */
class SubscriptionStore {
  /**
   * @param {T} initial
   * @param {(set: (next: (prev: T) => T) => void) => Promise<() => Promise<void>>} start
   */
  constructor(initial, start) {
    this.snapshot = initial;
    this.start = start;
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    this.generation = 0;
    /** @type {Promise<(() => Promise<void>) | null> | null} */
    this.running = null;
  }

  /** @param {() => void} listener */
  subscribe = (listener) => {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.#begin();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.#end();
    };
  };

  getSnapshot = () => this.snapshot;

  #begin() {
    const generation = ++this.generation;
    /** @param {(prev: T) => T} next */
    const set = (next) => {
      if (generation !== this.generation) return;
      this.snapshot = next(this.snapshot);
      for (const listener of this.listeners) listener();
    };
    // A failed start has already said why through set; nothing to end.
    this.running = this.start(set).catch(() => null);
  }

  #end() {
    this.generation++;
    const running = this.running;
    this.running = null;
    // Ending fails only when the database or its worker is gone, which
    // ended the subscription too.
    running?.then((stop) => stop?.()).catch(() => {});
  }
}

/** @type {{rows: never[], columns: string[], error: null, loading: true, stale: false}} */
const LOADING = Object.freeze({ rows: [], columns: [], error: null, loading: true, stale: false });

/**
 * A copy the app cannot change under the store (the key was taken from the
 * values at this render).
 * @param {Params | undefined} params
 * @returns {Params | undefined}
 */
function copyParams(params) {
  if (params === undefined || params === null) return undefined;
  return Array.isArray(params) ? params.slice() : { ...params };
}

/**
 * The live result of a query: loading until the first result, then its rows
 * after every commit that changes them; error when the query fails (rows
 * keep the last result). (JSDoc cannot type a function by an overloaded
 * declaration: react.d.ts has the two overloads.)
 * @param {string} sql
 * @param {Params} [params]
 * @param {{rowMode?: 'object' | 'array'}} [options]
 * @returns {api.QueryState<any>}
 */
export function useQuery(sql, params, options) {
  const db = useDatabase();
  const key = paramsKey(params);
  const rowMode = options?.rowMode ?? 'object';
  const store = useMemo(() => {
    const bound = copyParams(params);
    /** @type {SubscriptionStore<api.QueryState<any>>} */
    const s = new SubscriptionStore(/** @type {api.QueryState<any>} */ (LOADING), async (set) => {
      /** @param {HearthError} error */
      const fail = (error) => set((prev) => ({ ...prev, error, loading: false, stale: false }));
      try {
        return await db.watch(sql, bound, (/** @type {QueryResult<any>} */ result, /** @type {ResultChange} */ change) => {
          // A cached result (db opened with cache) shows at once, flagged stale until the live one.
          set(() => ({ rows: result.rows, columns: result.columns, error: null, loading: false, stale: change.kind === 'cached' }));
        }, { rowMode, onError: fail });
      } catch (err) {
        fail(/** @type {HearthError} */ (err));
        throw err;
      }
    });
    return s;
  }, [db, sql, key, rowMode]); // params enter through key: compared by value, not by identity
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * The database's sync status, live; null before the first status arrives
 * and for a database opened without sync.
 * @type {typeof api.useSyncStatus}
 */
export function useSyncStatus() {
  const db = useDatabase();
  const store = useMemo(() => {
    /** @type {SubscriptionStore<SyncStatus | null>} */
    const s = new SubscriptionStore(/** @type {SyncStatus | null} */ (null), async (set) => {
      if (!db.synced) return async () => {};
      return db.onSyncStatus((status) => set(() => status));
    });
    return s;
  }, [db]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
