import type {
  DatabaseInfo,
  ErrorCode,
  ExecResult,
  Migration,
  Params,
  Progress,
  RowHistory,
  SQLValue,
  StorageChoice,
  StoredDatabase,
  SyncStatus,
  SyncTable,
  TextOp,
} from './hearth.js';

/** Hearth wire format v1 (see wasm/protocol/FORMAT.md). */
export declare const VERSION: 1;

/** A value the wire format carries. Integers outside the safe range decode as BigInt. */
export type WireValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | WireValue[]
  | { [key: string]: WireValue };

/** Thrown for malformed bytes and for values that cannot be encoded. */
export declare class WireError extends Error {}

/** Encodes one value; the result is a view of exactly the message bytes. */
export declare function encode(value: unknown): Uint8Array;

/** Decodes one message. */
export declare function decode(bytes: Uint8Array | ArrayBuffer): WireValue;

/** What decodeInSlices left to decode: the elements of the message's large arrays. */
export interface RestOfMessage {
  /**
   * Decodes elements in place until they are all decoded (true) or now()
   * reaches deadline (false: call again). Throws WireError.
   */
  fill(deadline: number, now: () => number): boolean;
}

/**
 * Decodes one message, leaving the elements of each array below the top
 * level with more than deferOver elements to `rest` (null when none was
 * left): such an array already has its length, and is filled by
 * rest.fill. Throws WireError.
 */
export declare function decodeInSlices(bytes: Uint8Array | ArrayBuffer, deferOver: number): { value: WireValue; rest: RestOfMessage | null };

/**
 * The head of an envelope, read without decoding the rest: `id` (a reply
 * or request; null when the worker could not read the request's id) or
 * `sub` (a push), and `op` when a request names it right after its id.
 * Empty for bytes that do not start like an envelope.
 */
export interface EnvelopeHead {
  id?: number | null;
  sub?: number | null;
  op?: string;
}

/** Reads an envelope's head ({v, id | sub, op?}) without decoding the rest. */
export declare function peekHead(bytes: Uint8Array): EnvelopeHead;

// ---- The page↔worker protocol (wasm/protocol/messages.go): what each op
// takes and what its reply's `ok` holds. hearth.js and hearth-tabs.js are
// typed against these; apps use the Database API in hearth.d.ts. ----

/** A query result as the worker sends it: rows are arrays in column order. */
export interface WireRows {
  columns: string[];
  rows: SQLValue[][];
}

/** A live query's whole result; keyed when its rows have stable keys (deltas then say changed, not removed+inserted). */
export interface LiveRows extends WireRows {
  keyed: boolean;
}

/** The result of open: the handle and where the database lives. */
export interface OpenReply {
  db: number;
  sync: boolean;
  name: string;
  storage: 'memory' | 'opfs' | 'idb';
  reason: string;
  version: number;
  persistent: boolean;
}

/** The sync option as the worker takes it (URL resolved, ws/wss scheme). */
export interface WorkerSyncOption {
  url: string;
  tables: Array<string | SyncTable>;
  token?: string;
}

export interface WireStatement {
  sql: string;
  params?: Params;
}

/** A watch of a query's rows, or ({sync: true}) of the sync status. */
export type WatchFields =
  | { db: number; sql: string; params?: Params }
  | { db: number; sync: true };

export interface WatchRowsReply {
  sub: number;
  result: LiveRows;
}

export interface WatchSyncReply {
  sub: number;
  status: SyncStatus;
}

/** Every op: its operands (the envelope's other fields) and its result. */
/**
 * Set by the many-tabs router (hearth-tabs.js) on the writes it forwards,
 * never by apps: the leader records wid with the write's result, and a
 * retry (after the leader changed) whose wid is recorded gets that result
 * instead of applying the write again (FORMAT.md, "Write ids"). With
 * retry, a commit names tx -1.
 */
export interface WriteID {
  wid?: string;
  retry?: boolean;
}

export interface Operations {
  open: {
    fields: {
      name: string;
      storage: StorageChoice;
      key?: Uint8Array | string;
      durability?: 'full' | 'normal';
      migrations?: Migration[];
      sync?: WorkerSyncOption;
    };
    result: OpenReply;
  };
  exec: { fields: { db: number; tx?: number; sql: string; params?: Params } & WriteID; result: ExecResult };
  query: { fields: { db: number; tx?: number; sql: string; params?: Params }; result: WireRows };
  batch: { fields: { db: number; tx?: number; statements: WireStatement[] } & WriteID; result: { results: Array<ExecResult | WireRows> } };
  begin: { fields: { db: number; timeoutMs?: number }; result: { tx: number } };
  commit: { fields: { db: number; tx: number } & WriteID; result: {} };
  rollback: { fields: { db: number; tx: number }; result: {} };
  watch: { fields: WatchFields; result: WatchRowsReply | WatchSyncReply };
  unwatch: { fields: { db: number; sub: number }; result: { found: boolean } };
  info: { fields: { db: number }; result: Omit<DatabaseInfo, 'name' | 'version'> };
  sync: { fields: { db: number }; result: SyncStatus };
  retryQuarantined: { fields: { db: number; quarantineId: number; rename?: Record<string, string> }; result: { seq: number } };
  discardQuarantined: { fields: { db: number; quarantineId: number }; result: { seq: number } };
  dismissChange: { fields: { db: number; seq: number }; result: { seq: number } };
  history: { fields: { db: number; table: string; key: SQLValue[] }; result: RowHistory };
  editText: { fields: { db: number; table: string; key: SQLValue[]; column: string; ops: TextOp[] } & WriteID; result: { text: string } };
  setSyncToken: { fields: { db: number; token: string }; result: {} };
  close: { fields: { db: number }; result: {} };
  databases: { fields: {}; result: StoredDatabase[] };
  drop: { fields: { name: string }; result: {} };
  network: { fields: { online: boolean }; result: {} };
}

export type Op = keyof Operations;

/** A request envelope. */
export type Request<O extends Op = Op> = { v: 1; id: number; op: O } & Operations[O]['fields'];

export interface ReplyError {
  code: ErrorCode;
  message: string;
  /** For a failed batch: the statement that failed. */
  index?: number;
}

/** A reply envelope: exactly one per request; progress reports (open with migrations) come before it. */
export type Reply =
  | { v: 1; id: number; ok: unknown; error?: undefined; progress?: undefined; sub?: undefined }
  | { v: 1; id: number | null; error: ReplyError; ok?: undefined; progress?: undefined; sub?: undefined }
  | { v: 1; id: number; progress: Progress; ok?: undefined; error?: undefined; sub?: undefined };

/** How a live query's rows changed: removed indices (old positions), then inserted and changed rows at their new positions. */
export interface RowsDelta {
  removed: number[];
  inserted: Array<[number, SQLValue[]]>;
  changed: Array<[number, SQLValue[]]>;
}

/** A push to a watch: a live query's delta or whole new result, its failure, or a new sync status. */
export type Push = { v: 1; sub: number; id?: undefined } & (
  | { full: LiveRows; delta?: undefined; error?: undefined; status?: undefined }
  | { delta: RowsDelta; full?: undefined; error?: undefined; status?: undefined }
  | { error: { code: ErrorCode; message: string }; full?: undefined; delta?: undefined; status?: undefined }
  | { status: SyncStatus; full?: undefined; delta?: undefined; error?: undefined }
);

/** Anything the worker sends the page. */
export type WorkerMessage = Reply | Push;
