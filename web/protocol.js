// Hearth wire format v1: the JS mirror of wasm/protocol (see FORMAT.md there).
// One tagged binary value per message; decoded here with a DataView, without
// any call into Go.

/** @import { EnvelopeHead } from './protocol.js' */

/** @type {1} */
export const VERSION = 1;

const NULL = 0x00, FALSE = 0x01, TRUE = 0x02, INT32 = 0x03, INT64 = 0x04,
  FLOAT64 = 0x05, TEXT = 0x06, BLOB = 0x07, ARRAY = 0x08, MAP = 0x09;
const MAX_DEPTH = 64;
const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n;

/** Thrown for bytes that are not a valid message, and for values that cannot be encoded. */
export class WireError extends Error {
  /** @param {string} message */
  constructor(message) { super(message); this.name = 'WireError'; }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  constructor(size = 256) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }
  /** @param {number} n */
  reserve(n) {
    if (this.pos + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.bytes.subarray(0, this.pos));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }
  /** @param {number} tag @param {number} n */
  tagU32(tag, n) {
    this.reserve(5);
    this.bytes[this.pos] = tag;
    this.view.setUint32(this.pos + 1, n, true);
    this.pos += 5;
  }
  /** @param {string} s @param {boolean} tagged */
  str(s, tagged) {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; encode in place and
    // write the length afterwards.
    const head = tagged ? 5 : 4;
    this.reserve(head + s.length * 3);
    const start = this.pos + head;
    let n;
    if (s.length < 64 && isASCII(s)) {
      for (let i = 0; i < s.length; i++) this.bytes[start + i] = s.charCodeAt(i);
      n = s.length;
    } else {
      n = textEncoder.encodeInto(s, this.bytes.subarray(start)).written;
    }
    if (tagged) this.bytes[this.pos] = TEXT;
    this.view.setUint32(this.pos + head - 4, n, true);
    this.pos = start + n;
  }
  /** @param {unknown} v @param {number} depth */
  value(v, depth) {
    if (depth > MAX_DEPTH) throw new WireError(`value nested deeper than ${MAX_DEPTH}`);
    switch (typeof v) {
      case 'number':
        this.reserve(9);
        if (Number.isInteger(v) && !Object.is(v, -0)) {
          if (v >= -0x80000000 && v <= 0x7fffffff) {
            this.bytes[this.pos] = INT32;
            this.view.setInt32(this.pos + 1, v, true);
            this.pos += 5;
            return;
          }
          if (Number.isSafeInteger(v)) {
            this.bytes[this.pos] = INT64;
            this.view.setBigInt64(this.pos + 1, BigInt(v), true);
            this.pos += 9;
            return;
          }
        }
        this.bytes[this.pos] = FLOAT64;
        this.view.setFloat64(this.pos + 1, v, true);
        this.pos += 9;
        return;
      case 'string':
        this.str(v, true);
        return;
      case 'bigint':
        if (v < INT64_MIN || v > INT64_MAX) throw new WireError(`BigInt ${v} is outside the 64-bit integer range`);
        this.reserve(9);
        this.bytes[this.pos] = INT64;
        this.view.setBigInt64(this.pos + 1, v, true);
        this.pos += 9;
        return;
      case 'boolean':
        this.reserve(1);
        this.bytes[this.pos++] = v ? TRUE : FALSE;
        return;
      case 'undefined':
        this.reserve(1);
        this.bytes[this.pos++] = NULL;
        return;
      case 'object':
        if (v === null) {
          this.reserve(1);
          this.bytes[this.pos++] = NULL;
          return;
        }
        if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
          const b = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
          this.tagU32(BLOB, b.length);
          this.reserve(b.length);
          this.bytes.set(b, this.pos);
          this.pos += b.length;
          return;
        }
        if (Array.isArray(v)) {
          this.tagU32(ARRAY, v.length);
          for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
          return;
        }
        if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
          const map = /** @type {Record<string, unknown>} */ (v);
          const keys = Object.keys(map).filter((k) => map[k] !== undefined);
          this.tagU32(MAP, keys.length);
          for (const k of keys) {
            this.str(k, false);
            this.value(map[k], depth + 1);
          }
          return;
        }
        throw new WireError(`cannot encode a ${v.constructor?.name ?? 'object'}; pass a number, string, BigInt, boolean, null, Uint8Array, array or plain object`);
      default:
        throw new WireError(`cannot encode a ${typeof v}`);
    }
  }
}

/** @param {string} s */
function isASCII(s) {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * Encodes one value into a new Uint8Array (a view of exactly the message;
 * transfer its buffer). Object keys whose value is undefined are left out;
 * undefined elsewhere is encoded as null.
 * @param {unknown} value
 * @returns {Uint8Array}
 */
export function encode(value) {
  const w = new Writer();
  w.value(value, 0);
  return w.bytes.subarray(0, w.pos);
}

class Reader {
  /**
   * @param {Uint8Array} bytes
   * @param {number} [deferOver] arrays below the top level with more elements
   *   than this are skipped, not decoded, and listed in `deferred`
   */
  constructor(bytes, deferOver = Infinity) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.deferOver = deferOver;
    /** @type {DeferredArray[]} */
    this.deferred = [];
  }
  /** @param {number} n */
  need(n) {
    if (this.bytes.length - this.pos < n) throw new WireError(`truncated at byte ${this.pos}`);
  }
  u32() {
    this.need(4);
    const n = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return n;
  }
  text() {
    const n = this.u32();
    this.need(n);
    const start = this.pos;
    this.pos += n;
    if (n < 32) {
      // Short ASCII strings are the common case (ids, statuses); building
      // them by hand beats a TextDecoder call.
      let s = '';
      for (let i = start; i < start + n; i++) {
        const c = this.bytes[i];
        if (c > 0x7f) return decodeUTF8(this.bytes.subarray(start, start + n), start);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return decodeUTF8(this.bytes.subarray(start, start + n), start);
  }
  /**
   * @param {number} depth
   * @returns {import('./protocol.js').WireValue}
   */
  value(depth) {
    if (depth > MAX_DEPTH) throw new WireError(`nested deeper than ${MAX_DEPTH}`);
    this.need(1);
    const tag = this.bytes[this.pos++];
    switch (tag) {
      case NULL: return null;
      case FALSE: return false;
      case TRUE: return true;
      case INT32: {
        this.need(4);
        const v = this.view.getInt32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case INT64: {
        this.need(8);
        const v = this.view.getBigInt64(this.pos, true);
        this.pos += 8;
        return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
      }
      case FLOAT64: {
        this.need(8);
        const v = this.view.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case TEXT: return this.text();
      case BLOB: {
        const n = this.u32();
        this.need(n);
        // A copy with its own buffer: the app may keep or transfer it
        // without pinning (or detaching) the whole message.
        const b = this.bytes.slice(this.pos, this.pos + n);
        this.pos += n;
        return b;
      }
      case ARRAY: {
        const n = this.u32();
        this.need(n); // every element takes at least one byte
        const arr = new Array(n);
        if (n > this.deferOver && depth > 0) {
          // Only checked for its shape now; its elements are decoded later.
          this.deferred.push({ arr, pos: this.pos, depth: depth + 1, next: 0 });
          for (let i = 0; i < n; i++) this.skip(depth + 1);
          return arr;
        }
        for (let i = 0; i < n; i++) arr[i] = this.value(depth + 1);
        return arr;
      }
      case MAP: {
        const n = this.u32();
        this.need(n * 5);
        /** @type {{ [key: string]: import('./protocol.js').WireValue }} */
        const obj = {};
        for (let i = 0; i < n; i++) {
          const k = this.text();
          obj[k] = this.value(depth + 1);
        }
        return obj;
      }
      default:
        throw new WireError(`unknown tag 0x${tag.toString(16).padStart(2, '0')} at byte ${this.pos - 1}`);
    }
  }
  /**
   * Moves past one value, checking what value() checks but the texts' UTF-8
   * (value() checks that when it decodes them).
   * @param {number} depth
   */
  skip(depth) {
    if (depth > MAX_DEPTH) throw new WireError(`nested deeper than ${MAX_DEPTH}`);
    this.need(1);
    const tag = this.bytes[this.pos++];
    switch (tag) {
      case NULL: case FALSE: case TRUE: return;
      case INT32: this.need(4); this.pos += 4; return;
      case INT64: case FLOAT64: this.need(8); this.pos += 8; return;
      case TEXT: case BLOB: {
        const n = this.u32();
        this.need(n);
        this.pos += n;
        return;
      }
      case ARRAY: {
        const n = this.u32();
        this.need(n);
        for (let i = 0; i < n; i++) this.skip(depth + 1);
        return;
      }
      case MAP: {
        const n = this.u32();
        this.need(n * 5);
        for (let i = 0; i < n; i++) {
          const k = this.u32();
          this.need(k);
          this.pos += k;
          this.skip(depth + 1);
        }
        return;
      }
      default:
        throw new WireError(`unknown tag 0x${tag.toString(16).padStart(2, '0')} at byte ${this.pos - 1}`);
    }
  }
}

/**
 * @typedef {object} DeferredArray an array decodeInSlices left to fill
 * @property {import('./protocol.js').WireValue[]} arr the array in the message, of its final length
 * @property {number} pos where its next element starts
 * @property {number} depth its elements' depth
 * @property {number} next the index of its next element
 */

/**
 * What decodeInSlices left to decode: the elements of the message's large
 * arrays, decoded in place by fill (RestOfMessage in protocol.d.ts).
 */
class RestOfMessage {
  /** @param {Uint8Array} bytes @param {DeferredArray[]} arrays */
  constructor(bytes, arrays) {
    this.reader = new Reader(bytes);
    this.arrays = arrays;
  }
  /** @param {number} deadline @param {() => number} now */
  fill(deadline, now) {
    const r = this.reader;
    while (this.arrays.length > 0) {
      const a = this.arrays[0];
      r.pos = a.pos;
      while (a.next < a.arr.length) {
        a.arr[a.next++] = r.value(a.depth);
        // Reading the clock costs more than a short row: look every 64.
        if ((a.next & 63) === 0 && a.next < a.arr.length && now() >= deadline) {
          a.pos = r.pos;
          return false;
        }
      }
      this.arrays.shift();
    }
    return true;
  }
}

/** @param {Uint8Array} bytes @param {number} at */
function decodeUTF8(bytes, at) {
  try {
    return textDecoder.decode(bytes);
  } catch {
    throw new WireError(`invalid UTF-8 text at byte ${at}`);
  }
}

/**
 * Decodes one message (a Uint8Array or ArrayBuffer). Throws WireError.
 * @param {Uint8Array | ArrayBuffer} bytes
 */
export function decode(bytes) {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) throw new WireError('a message must be a Uint8Array');
  const r = new Reader(bytes);
  const v = r.value(0);
  if (r.pos !== bytes.length) throw new WireError(`${bytes.length - r.pos} trailing bytes`);
  return v;
}

/**
 * Decodes one message like decode, except that each array below the top
 * level with more than deferOver elements is only checked for its shape:
 * it has its length, and its elements are decoded by the returned rest's
 * fill(deadline, now), a slice at a time, until fill returns true. A page
 * decodes a large result so without holding its thread for the whole of it.
 * Throws WireError, here or from fill.
 * @param {Uint8Array | ArrayBuffer} bytes
 * @param {number} deferOver
 */
export function decodeInSlices(bytes, deferOver) {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) throw new WireError('a message must be a Uint8Array');
  const r = new Reader(bytes, deferOver);
  const value = r.value(0);
  if (r.pos !== bytes.length) throw new WireError(`${bytes.length - r.pos} trailing bytes`);
  return { value, rest: r.deferred.length > 0 ? new RestOfMessage(bytes, r.deferred) : null };
}

/**
 * Reads the head of an envelope without decoding the rest: replies start
 * {v, id | sub, ...}, requests from hearth.js {v, id, op, ...}. Returns
 * {id} or {sub} (null when that field is not an integer, as in an error
 * reply to an unreadable request), plus op when it follows; {} for bytes
 * that do not start that way. The tab router (hearth-tabs.js) peeks at
 * every message so that large ones pass through undecoded.
 * @param {Uint8Array} bytes
 * @returns {EnvelopeHead}
 */
export function peekHead(bytes) {
  try {
    if (bytes[0] !== MAP) return {};
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 5; // map tag + count
    // Keys and op names are ASCII; a key that is not reads as some other
    // string and the envelope as one without that field.
    const readASCII = (/** @type {number} */ start, /** @type {number} */ n) => {
      if (start + n > bytes.length) throw new WireError('truncated');
      return String.fromCharCode(...bytes.subarray(start, start + n));
    };
    const readKey = () => {
      const n = view.getUint32(at, true);
      const key = readASCII(at + 4, n);
      at += 4 + n;
      return key;
    };
    /** @returns {number | null} */
    const readInt = () => {
      const tag = bytes[at];
      if (tag === INT32) { const v = view.getInt32(at + 1, true); at += 5; return v; }
      if (tag === INT64) { const v = Number(view.getBigInt64(at + 1, true)); at += 9; return v; }
      if (tag !== NULL) throw new WireError('not an integer'); // a value of unknown length: stop here
      at += 1;
      return null;
    };
    if (readKey() !== 'v') return {};
    readInt();
    const key = readKey();
    if (key !== 'id' && key !== 'sub') return {};
    /** @type {EnvelopeHead} */
    const head = key === 'id' ? { id: readInt() } : { sub: readInt() };
    if (at < bytes.length && readKey() === 'op' && bytes[at] === TEXT) {
      head.op = readASCII(at + 5, view.getUint32(at + 1, true));
    }
    return head;
  } catch {
    return {};
  }
}
