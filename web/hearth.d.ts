/** A SQL value as Hearth returns it. Integers beyond ±(2^53-1) come back as BigInt. */
export type SQLValue = null | number | bigint | string | Uint8Array;
/** A bindable parameter value; booleans bind as 1/0. */
export type SQLParam = SQLValue | boolean;
/** Positional (`?`) or named (`:name`, `@name`, `$name`; keys with or without the prefix) parameters. */
export type Params = SQLParam[] | { [name: string]: SQLParam };

export type StorageChoice = 'auto' | 'memory' | 'opfs' | 'idb';

/** Stable codes: SQLite extended result code names (`SQLITE_CONSTRAINT_UNIQUE`, …) or Hearth's own. */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'CLOSED'
  | 'STORAGE_UNAVAILABLE'
  | 'STORAGE_QUOTA'
  | 'INTERNAL'
  | 'WORKER_FAILED'
  | 'BAD_REPLY'
  | `SQLITE_${string}`;

export declare class HearthError extends Error {
  readonly code: ErrorCode;
  /** For a failed batch: the index of the statement that failed. */
  readonly index?: number;
}

export interface ExecResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface QueryResult<Row = Record<string, SQLValue>> {
  columns: string[];
  rows: Row[];
}

export interface RowModeOption {
  /** 'object' (default): rows are objects keyed by column name; 'array': rows are arrays. */
  rowMode?: 'object' | 'array';
}

export interface Statement {
  sql: string;
  params?: Params;
}

export interface WorkerOptions {
  /** URL of hearth-worker.js (default: next to hearth.js). */
  workerURL?: string | URL;
  /** URL of hearth.wasm (default: dist/hearth.wasm next to the worker). */
  wasmURL?: string | URL;
}

export declare class HearthWorker {
  constructor(options?: WorkerOptions);
  /** Receives error replies that match no request, such as the answer to an undecodable message. */
  onUnmatchedError: (err: HearthError) => void;
  request(op: string, fields: Record<string, unknown>): Promise<unknown>;
  terminate(): void;
}

/** Starts the shared worker early so the bundle compiles while the app boots. */
export declare function preload(options?: WorkerOptions): HearthWorker;

export interface OpenOptions {
  name: string;
  /** Where the database lives; 'auto' picks the best durable storage available. */
  storage?: StorageChoice;
  /** A worker of your own instead of the shared one. */
  worker?: HearthWorker;
}

export interface DatabaseInfo {
  name: string;
  /** The storage actually in use. */
  storage: 'memory' | 'opfs' | 'idb';
  /** Why that storage was chosen. */
  storageReason: string;
}

export declare class Database {
  readonly name: string;
  exec(sql: string, params?: Params): Promise<ExecResult>;
  query<Row = Record<string, SQLValue>>(sql: string, params?: Params, options?: { rowMode?: 'object' }): Promise<QueryResult<Row>>;
  query(sql: string, params: Params | undefined, options: { rowMode: 'array' }): Promise<QueryResult<SQLValue[]>>;
  batch(statements: Array<Statement | string>, options?: RowModeOption): Promise<Array<ExecResult | QueryResult<any>>>;
  info(): DatabaseInfo;
  close(): Promise<void>;
}

export declare function open(options: OpenOptions): Promise<Database>;
