/**
 * JSON values across the native boundary. Values go as JSON text, checked first: JSON.stringify
 * alone would turn NaN into null and drop undefined members and functions without a word, and a
 * store must never hold a value other than the one the caller meant. What comes back is parsed.
 */

import { InvalidArgumentError } from './errors.js';

/** The deepest nesting of arrays and objects accepted (`[[1]]` nests 2 deep): the core's
 * `validate::MAX_VALUE_DEPTH`, well within what every store's JSON reader parses back. */
const MAX_DEPTH = 100;

/** How to convert the usual non-JSON objects, by constructor name. */
const HINTS: Record<string, string> = {
  Date: 'convert it first, e.g. with toISOString()',
  Map: 'convert it first, e.g. with Object.fromEntries(map)',
  Set: 'convert it first, e.g. with Array.from(set)',
};

/** With the `u` flag a pair of surrogates is one code point, so this finds only a lone one. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** What is wrong with `text` if it is not valid Unicode (a lone UTF-16 surrogate, which the
 * native layer would turn into U+FFFD, so two different strings would become one), else null:
 * `"a\ud800" is not valid Unicode: ...`, the string shown with the surrogate escaped. */
export function loneSurrogate(text: string): string | null {
  const found = LONE_SURROGATE.exec(text);
  if (!found) return null;
  const unit = `\\u${found[0].charCodeAt(0).toString(16)}`;
  const shown = JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
  return `${shown} is not valid Unicode: it contains a lone surrogate (${unit} at position ${found.index}); strings must be well-formed`;
}

function problem(value: unknown, path: string, depth: number, seen: Set<object>): string | null {
  if (typeof value === 'string') {
    const lone = loneSurrogate(value);
    return lone ? `${path}: the string ${lone}` : null;
  }
  if (value === null || typeof value === 'boolean') {
    return null;
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? null : `${path}: ${value} is not a JSON number`;
  }
  if (value === undefined) {
    return `${path}: undefined is not JSON (use null, or leave the member out)`;
  }
  if (typeof value !== 'object') {
    return `${path}: a ${typeof value} is not JSON`;
  }
  if (depth >= MAX_DEPTH) {
    return `${path}: arrays or objects nested more than ${MAX_DEPTH} levels deep, the limit`;
  }
  if (seen.has(value)) {
    return `${path}: a cycle`;
  }
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const p = problem(value[i], `${path}[${i}]`, depth + 1, seen);
        if (p) return p;
      }
      return null;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name || 'object';
      return `${path}: a ${name} is not JSON (${HINTS[name] ?? 'convert it to plain objects, arrays, strings, numbers, booleans and null first'})`;
    }
    if (Object.getOwnPropertySymbols(value).some((k) => Object.prototype.propertyIsEnumerable.call(value, k))) {
      return `${path}: a member keyed by a symbol is not JSON (JSON.stringify would drop it)`;
    }
    for (const [k, v] of Object.entries(value)) {
      const lone = loneSurrogate(k);
      if (lone) return `${path}: the member name ${lone}`;
      const p = problem(v, `${path}.${k}`, depth + 1, seen);
      if (p) return p;
    }
    return null;
  } finally {
    seen.delete(value);
  }
}

/** The JSON text of `value`, the value stored at `key`; bad values are `InvalidArgumentError`. */
export function toJson(key: string, value: unknown): string {
  if (value === undefined) {
    throw new InvalidArgumentError(`the value for '${key}' is undefined, which is not JSON (use null)`);
  }
  const p = problem(value, '$', 0, new Set());
  if (p) {
    throw new InvalidArgumentError(`the value for '${key}' is not JSON at ${p}`);
  }
  return JSON.stringify(value);
}

export function fromJson(text: string | null | undefined): unknown {
  return text === null || text === undefined ? null : JSON.parse(text);
}
