// A Kysely dialect for Hearth (`@hearthdb/hearth/kysely`): Kysely's SQLite
// query compiler, adapter and introspector, over a driver that runs
// statements through an open Hearth database. kysely is an optional peer
// dependency. See kysely.d.ts for the typed API.
import {
  createQueryId,
  IdentifierNode,
  RawNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
/** @import * as api from './kysely.js' */
/** @import { Database, ExecResult, Params, QueryResult as HearthResult, SQLParam, Transaction } from './hearth.js' */
/** @import { CompiledQuery, DatabaseConnection, Driver, QueryResult, Kysely, QueryCompiler } from 'kysely' */

/**
 * `new Kysely<DB>({ dialect: new HearthDialect({ database: db }) })`.
 * @implements {api.HearthDialect}
 */
export class HearthDialect {
  /** @param {api.HearthDialectConfig} config */
  constructor(config) {
    this.config = config;
  }

  createDriver() {
    return new HearthDriver(this.config);
  }

  createQueryCompiler() {
    return new SqliteQueryCompiler();
  }

  createAdapter() {
    return new SqliteAdapter();
  }

  /** @param {Kysely<any>} db */
  createIntrospector(db) {
    return new SqliteIntrospector(db);
  }
}

/**
 * Hearth serializes everything in its worker, so a connection is only a
 * view: statements outside a transaction go to the database, those inside
 * one to its Transaction (a Kysely transaction is a db.transaction).
 * @implements {Driver}
 */
export class HearthDriver {
  /** @param {api.HearthDialectConfig} config */
  constructor(config) {
    this.config = config;
    /** @type {Database | null} */
    this.db = null;
  }

  async init() {
    const { database } = this.config;
    this.db = typeof database === 'function' ? await database() : database;
  }

  async acquireConnection() {
    if (!this.db) throw new Error('HearthDriver: init() has not run');
    return new HearthConnection(this.db);
  }

  /** @param {DatabaseConnection} connection */
  async beginTransaction(connection) {
    await asHearth(connection).begin(this.config.transactionTimeoutMs);
  }

  /** @param {DatabaseConnection} connection */
  async commitTransaction(connection) {
    await asHearth(connection).end(true);
  }

  /** @param {DatabaseConnection} connection */
  async rollbackTransaction(connection) {
    await asHearth(connection).end(false);
  }

  /**
   * @param {DatabaseConnection} connection
   * @param {string} name
   * @param {QueryCompiler['compileQuery']} compileQuery
   */
  async savepoint(connection, name, compileQuery) {
    await asHearth(connection).executeQuery(savepointCommand('savepoint', name, compileQuery));
  }

  /**
   * @param {DatabaseConnection} connection
   * @param {string} name
   * @param {QueryCompiler['compileQuery']} compileQuery
   */
  async rollbackToSavepoint(connection, name, compileQuery) {
    await asHearth(connection).executeQuery(savepointCommand('rollback to', name, compileQuery));
  }

  /**
   * @param {DatabaseConnection} connection
   * @param {string} name
   * @param {QueryCompiler['compileQuery']} compileQuery
   */
  async releaseSavepoint(connection, name, compileQuery) {
    await asHearth(connection).executeQuery(savepointCommand('release', name, compileQuery));
  }

  async releaseConnection() {}

  /** The database belongs to the app, which closes it. */
  async destroy() {
    this.db = null;
  }
}

/**
 * `SAVEPOINT "name"` and its kin, the name quoted by Kysely's compiler.
 * @param {string} command
 * @param {string} name
 * @param {QueryCompiler['compileQuery']} compileQuery
 */
function savepointCommand(command, name, compileQuery) {
  const node = RawNode.createWithChildren([RawNode.createWithSql(`${command} `), IdentifierNode.create(name)]);
  return compileQuery(node, createQueryId());
}

/** @param {DatabaseConnection} connection */
function asHearth(connection) {
  if (!(connection instanceof HearthConnection)) throw new Error('HearthDriver: not a Hearth connection');
  return connection;
}

/**
 * @typedef {object} OpenTx the Hearth transaction a connection runs in
 * @property {Transaction} tx
 * @property {(commit: boolean) => void} finish ends the transaction's callback
 * @property {Promise<void>} done settles when the commit or rollback has
 */

/** Thrown inside db.transaction's callback to roll it back. */
const rollbackRequested = Symbol('hearth kysely rollback');

/** @implements {DatabaseConnection} */
export class HearthConnection {
  /** @param {Database} db */
  constructor(db) {
    this.db = db;
    /** @type {OpenTx | null} */
    this.open = null;
  }

  /**
   * Starts db.transaction and parks its callback until end() says how it
   * ends: Kysely drives a transaction by begin/commit/rollback calls,
   * Hearth by a callback's outcome.
   * @param {number | undefined} timeoutMs
   */
  begin(timeoutMs) {
    if (this.open) return Promise.reject(new Error('HearthConnection: a transaction is already open on this connection'));
    return new Promise((resolve, reject) => {
      /** @type {(commit: boolean) => void} */
      let finish = () => {};
      const decided = new Promise((settle) => { finish = settle; });
      const done = this.db.transaction(async (tx) => {
        this.open = { tx, finish, done };
        resolve(undefined);
        if (!(await decided)) throw rollbackRequested;
      }, { timeoutMs });
      done.catch((err) => {
        if (!this.open) reject(err); // begin itself failed
      });
    });
  }

  /** @param {boolean} commit */
  async end(commit) {
    const open = this.open;
    if (!open) throw new Error('HearthConnection: no transaction is open on this connection');
    this.open = null;
    open.finish(commit);
    try {
      await open.done;
    } catch (err) {
      if (err !== rollbackRequested) throw err;
    }
  }

  /** @returns {Database | Transaction} */
  #target() {
    return this.open ? this.open.tx : this.db;
  }

  /**
   * @template R
   * @param {CompiledQuery} compiled
   * @returns {Promise<QueryResult<R>>}
   */
  async executeQuery(compiled) {
    const { sql, query } = compiled;
    const params = paramsOf(compiled);
    const target = this.#target();
    const kind = query.kind;
    if (kind === 'SelectQueryNode' || ('returning' in query && query.returning)) {
      const { rows } = await target.query(sql, params);
      return { rows: /** @type {R[]} */ (rows) };
    }
    if (kind === 'RawNode' && !controlsTransaction.test(sql)) {
      // Raw SQL may return rows or not: a batch of one says which. (Not
      // for SAVEPOINT and its kin: a batch runs in a savepoint of its own,
      // whose release would take theirs along.)
      const [result] = await target.batch([{ sql, params }]);
      if ('columns' in result) return { rows: /** @type {R[]} */ (result.rows) };
      return execResult(result);
    }
    return execResult(await target.exec(sql, params));
  }

  /**
   * Hearth answers a query whole: the rows come in chunks of chunkSize.
   * @template R
   * @param {CompiledQuery} compiled
   * @param {number} [chunkSize]
   * @returns {AsyncIterableIterator<QueryResult<R>>}
   */
  async *streamQuery(compiled, chunkSize = 100) {
    const { rows } = await this.#target().query(compiled.sql, paramsOf(compiled));
    const size = Math.max(1, chunkSize);
    for (let i = 0; i < rows.length; i += size) yield { rows: /** @type {R[]} */ (rows.slice(i, i + size)) };
  }
}

/**
 * A query's parameters; none as undefined, since Hearth refuses an empty
 * list for SQL without parameters.
 * @param {CompiledQuery} compiled
 * @returns {SQLParam[] | undefined}
 */
function paramsOf(compiled) {
  return compiled.parameters.length > 0 ? /** @type {SQLParam[]} */ (compiled.parameters) : undefined;
}

/** SQL that opens or ends a transaction or savepoint (run with exec). */
const controlsTransaction = /^\s*(savepoint|release|rollback|begin|commit|end)\b/i;

/**
 * @param {ExecResult} r
 * @returns {QueryResult<never>}
 */
function execResult(r) {
  return { numAffectedRows: BigInt(r.changes), insertId: BigInt(r.lastInsertRowid), rows: [] };
}
