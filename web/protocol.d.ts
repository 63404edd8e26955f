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
