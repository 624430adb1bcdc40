// The three patch formats the API server accepts for built-in types.
import { clone, deepEqual, isObject, type JsonObject, type JsonValue } from './json.js';

/** A patch document that cannot be applied: the server answers 422 (or 400 for a malformed document). */
export class PatchError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 422,
  ) {
    super(message);
  }
}

/** RFC 7386: objects merge recursively, null deletes, everything else (lists included) replaces. */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * Strategic merge patch, as far as the fake needs it: maps merge like a merge patch (so labels behave the same),
 * and the `$patch: replace | delete` directives on a map are honoured. Lists are replaced whole; the real server
 * merges lists that have a patchMergeKey (containers by name and so on), which nothing here relies on.
 * kubectl's `$setElementOrder/...` and `$retainKeys` bookkeeping keys are accepted and ignored.
 */
export function strategicMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue | undefined {
  if (!isObject(patch)) return clone(patch);
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  if (directive !== undefined && directive !== 'replace' && directive !== 'merge') {
    throw new PatchError(`unknown patch directive ${JSON.stringify(directive)}`, 422);
  }
  const out: JsonObject = isObject(target) && directive !== 'replace' ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$')) throw new PatchError(`unknown patch directive key ${key}`, 422);
    if (value === null) {
      delete out[key];
      continue;
    }
    const merged = strategicMergePatch(out[key], value);
    if (merged === undefined) delete out[key];
    else out[key] = merged;
  }
  return out;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`JSON pointer "${pointer}" must start with "/"`, 422);
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function arrayIndex(token: string, length: number, forInsert: boolean): number {
  if (forInsert && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`invalid array index "${token}"`, 422);
  const index = Number(token);
  if (index > length || (!forInsert && index === length)) throw new PatchError(`array index ${index} out of bounds`, 422);
  return index;
}

function parentOf(doc: JsonValue, tokens: readonly string[]): JsonValue {
  let cur: JsonValue = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(token, cur.length, false)] ?? null;
    else if (isObject(cur) && Object.hasOwn(cur, token)) cur = cur[token] ?? null;
    else throw new PatchError(`doc is missing path "${tokens.join('/')}"`, 422);
  }
  return cur;
}

function getAt(doc: JsonValue, tokens: readonly string[]): JsonValue {
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false)] ?? null;
  if (isObject(parent) && Object.hasOwn(parent, last)) return parent[last] ?? null;
  throw new PatchError(`doc is missing path "/${tokens.join('/')}"`, 422);
}

function removeAt(doc: JsonValue, tokens: readonly string[]): JsonValue {
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) return parent.splice(arrayIndex(last, parent.length, false), 1)[0] ?? null;
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const old = parent[last] ?? null;
    delete parent[last];
    return old;
  }
  throw new PatchError(`unable to remove nonexistent key: ${last}`, 422);
}

function addAt(doc: JsonValue, tokens: readonly string[], value: JsonValue): JsonValue {
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1] ?? '';
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true), 0, value);
  else if (isObject(parent)) parent[last] = value;
  else throw new PatchError(`doc is missing path "/${tokens.join('/')}"`, 422);
  return doc;
}

/** RFC 6902. */
export function jsonPatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!Array.isArray(patch)) throw new PatchError('json patch must be a list of operations', 400);
  let doc = clone(target);
  for (const raw of patch) {
    if (!isObject(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw new PatchError(`malformed json patch operation ${JSON.stringify(raw)}`, 400);
    }
    const path = decodePointer(raw['path']);
    const value = raw['value'];
    const from = typeof raw['from'] === 'string' ? decodePointer(raw['from']) : undefined;
    switch (raw['op']) {
      case 'add':
        if (value === undefined) throw new PatchError('add operation does not apply: value is missing', 400);
        doc = addAt(doc, path, clone(value));
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'replace':
        if (value === undefined) throw new PatchError('replace operation does not apply: value is missing', 400);
        if (path.length === 0) doc = clone(value);
        else {
          removeAt(doc, path);
          doc = addAt(doc, path, clone(value));
        }
        break;
      case 'move':
        if (from === undefined) throw new PatchError('move operation does not apply: from is missing', 400);
        doc = addAt(doc, path, removeAt(doc, from));
        break;
      case 'copy':
        if (from === undefined) throw new PatchError('copy operation does not apply: from is missing', 400);
        doc = addAt(doc, path, clone(getAt(doc, from)));
        break;
      case 'test':
        if (!deepEqual(getAt(doc, path), value ?? null)) {
          throw new PatchError(`testing value ${raw['path']} failed: test failed`, 422);
        }
        break;
      default:
        throw new PatchError(`unexpected json patch operation ${JSON.stringify(raw['op'])}`, 400);
    }
  }
  return doc;
}
