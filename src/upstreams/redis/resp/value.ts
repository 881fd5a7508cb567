/** RESP values as attache holds them: the value type, its builders, and a reply frame (bytes + value). */

/**
 * One RESP value. Line types (simple strings, errors, integers, doubles, booleans, big numbers) are
 * kept as latin1 text: byte-exact on re-encode. A map's entries are flat: key, value, key, value.
 * An attribute (RESP3 `|`) is kept with the value it annotates (`annotated`), as one element.
 */
export type RespValue =
  | { readonly type: "simple"; readonly value: string }
  | { readonly type: "error"; readonly value: string }
  | { readonly type: "integer"; readonly value: string }
  | { readonly type: "bulk"; readonly value: Buffer | null }
  | { readonly type: "array"; readonly value: RespValue[] | null }
  | { readonly type: "null" }
  | { readonly type: "double" | "boolean" | "bignum"; readonly value: string }
  | { readonly type: "blobError" | "verbatim"; readonly value: Buffer }
  | { readonly type: "map" | "set" | "push"; readonly value: RespValue[] }
  | { readonly type: "attribute"; readonly value: RespValue[]; readonly annotated: RespValue };

/** RESP3 aggregate kinds. */
export type Aggregate = "array" | "map" | "set" | "push" | "attribute";

export const resp = {
  simple: (value: string): RespValue => ({ type: "simple", value }),
  error: (value: string): RespValue => ({ type: "error", value }),
  integer: (value: number | bigint | string): RespValue => ({ type: "integer", value: String(value) }),
  bulk: (value: Buffer | string | null): RespValue => ({ type: "bulk", value: typeof value === "string" ? Buffer.from(value) : value }),
  array: (value: RespValue[] | null): RespValue => ({ type: "array", value }),
  nullBulk: { type: "bulk", value: null } as RespValue,
  nullArray: { type: "array", value: null } as RespValue,
  ok: { type: "simple", value: "OK" } as RespValue,
};

/** A reply frame: its exact bytes, and its value. */
export interface Frame {
  readonly raw: Buffer;
  readonly value: RespValue;
}
