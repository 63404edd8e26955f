// Types for web/kysely.js (`@hearthdb/hearth/kysely`): a Kysely dialect
// whose driver runs statements through an open Hearth database.
import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import type { Database } from './hearth.js';

export interface HearthDialectConfig {
  /** An open database, or a function that opens one (called once, on Kysely's first query). */
  database: Database | (() => Promise<Database>);
  /**
   * The idle timeout of the Hearth transactions Kysely's transactions run
   * in, ms (see TransactionOptions.timeoutMs in hearth.d.ts).
   */
  transactionTimeoutMs?: number;
}

/**
 * `new Kysely<DB>({ dialect: new HearthDialect({ database: db }) })`: Kysely's
 * SQLite compiler, adapter and introspector over Hearth. A Kysely transaction
 * (`db.transaction().execute(async (trx) => …)`) is a Hearth transaction
 * (db.transaction): exclusive, committed when the callback resolves, rolled
 * back when it throws; `trx.savepoint()` and its kin work inside it.
 * Results carry numAffectedRows and insertId for writes without RETURNING.
 */
export declare class HearthDialect implements Dialect {
  constructor(config: HearthDialectConfig);
  createDriver(): Driver;
  createQueryCompiler(): QueryCompiler;
  createAdapter(): DialectAdapter;
  createIntrospector(db: Kysely<any>): DatabaseIntrospector;
}

export declare class HearthDriver implements Driver {
  constructor(config: HearthDialectConfig);
  init(): Promise<void>;
  acquireConnection(): Promise<DatabaseConnection>;
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void>;
  commitTransaction(connection: DatabaseConnection): Promise<void>;
  rollbackTransaction(connection: DatabaseConnection): Promise<void>;
  savepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void>;
  rollbackToSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void>;
  releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void>;
  releaseConnection(): Promise<void>;
  destroy(): Promise<void>;
}

export declare class HearthConnection implements DatabaseConnection {
  constructor(db: Database);
  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>>;
  streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>>;
}
