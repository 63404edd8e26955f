// React bindings for Hearth: `import { HearthProvider, useQuery } from '@hearthdb/hearth/react'`.
import type { ReactNode, ReactElement } from 'react';
import type { Database, HearthError, Params, SQLValue, SyncStatus } from './hearth.js';

export interface HearthProviderProps {
  /** An open database (from open()); the hooks below the provider use it. */
  db: Database;
  children?: ReactNode;
}

/** Makes db the database of the components below it. */
export declare function HearthProvider(props: HearthProviderProps): ReactElement;

/** The database of the nearest HearthProvider; throws without one. */
export declare function useDatabase(): Database;

/** A live query's state as a component renders it. */
export interface QueryState<Row> {
  /** The current rows; empty while loading; the last result when a re-run fails. */
  rows: Row[];
  columns: string[];
  /** Why the query failed (bad SQL, a dropped table…), or null. */
  error: HearthError | null;
  /** True until the first result (or error) arrives. */
  loading: boolean;
  /**
   * True while rows are the cached result of an earlier visit (the database
   * was opened with cache): they may be out of date until the live result
   * replaces them. Apps may say so in the UI.
   */
  stale: boolean;
}

/**
 * Watches a query (db.watch) while the component is mounted: it re-renders
 * with the new rows after every commit that changes them, ends the watch on
 * unmount, and starts a new one when sql or the values of params change (a
 * new array with the same values does not). Row types the rows, unchecked.
 */
export declare function useQuery<Row = Record<string, SQLValue>>(sql: string, params?: Params, options?: { rowMode?: 'object' }): QueryState<Row>;
export declare function useQuery(sql: string, params: Params | undefined, options: { rowMode: 'array' }): QueryState<SQLValue[]>;

/** The database's sync status, live (db.onSyncStatus); null before the first one and for a database opened without sync. */
export declare function useSyncStatus(): SyncStatus | null;

/** The key by which useQuery compares parameters: equal for equal values. */
export declare function paramsKey(params: Params | undefined): string;
