// Label and field selectors, parsed the way the API server parses the labelSelector and fieldSelector query
// parameters: a selector it cannot parse is a 400, never "match everything".
import { isObject, type JsonObject, type JsonValue } from './json.js';
import { isLabelValue, isQualifiedName } from './validation.js';

export type LabelRequirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

export class SelectorError extends Error {}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) throw new SelectorError(`unbalanced parentheses in "${s}"`);
  }
  if (depth !== 0) throw new SelectorError(`unbalanced parentheses in "${s}"`);
  parts.push(s.slice(start));
  return parts;
}

function checkKey(key: string, whole: string): string {
  if (!isQualifiedName(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}" in "${whole}"`);
  return key;
}

function checkValue(value: string, whole: string): string {
  if (!isLabelValue(value)) throw new SelectorError(`unable to parse requirement: invalid label value "${value}" in "${whole}"`);
  return value;
}

export function parseLabelSelector(selector: string): LabelRequirement[] {
  if (selector.trim() === '') return [];
  return splitTopLevel(selector).map((raw) => {
    const part = raw.trim();
    if (part === '') throw new SelectorError(`empty requirement in "${selector}"`);
    const setMatch = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
    if (setMatch !== null) {
      const values = (setMatch[3] ?? '').split(',').map((v) => checkValue(v.trim(), selector));
      if (values.length === 0 || (values.length === 1 && values[0] === '')) {
        throw new SelectorError(`unable to parse requirement: for 'in', 'notin' operators, values set can't be empty`);
      }
      return { key: checkKey(setMatch[1] ?? '', selector), op: setMatch[2] === 'in' ? 'in' : 'notin', values };
    }
    const eqMatch = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (eqMatch !== null) {
      const key = checkKey(eqMatch[1] ?? '', selector);
      const value = checkValue(eqMatch[3] ?? '', selector);
      return { key, op: eqMatch[2] === '!=' ? 'notin' : 'in', values: [value] };
    }
    if (part.startsWith('!')) return { key: checkKey(part.slice(1).trim(), selector), op: 'notexists' };
    return { key: checkKey(part, selector), op: 'exists' };
  });
}

export function matchesLabels(requirements: readonly LabelRequirement[], labels: Readonly<Record<string, JsonValue>>): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && typeof value === 'string' && r.values.includes(value);
      case 'notin':
        return !has || typeof value !== 'string' || !r.values.includes(value);
    }
  });
}

export interface FieldRequirement {
  field: string;
  negate: boolean;
  value: string;
}

export function parseFieldSelector(selector: string, supported: readonly string[]): FieldRequirement[] {
  if (selector.trim() === '') return [];
  return selector.split(',').map((raw) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*([^\s]*)\s*$/.exec(raw);
    if (m === null) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${raw}'`);
    const field = m[1] ?? '';
    if (!supported.includes(field)) throw new SelectorError(`field label not supported: ${field}`);
    return { field, negate: m[2] === '!=', value: m[3] ?? '' };
  });
}

/** Reads a dotted field path; missing fields read as "" as they do in the API server's field sets. */
export function fieldValue(obj: JsonObject, field: string): string {
  let cur: JsonValue | undefined = obj;
  for (const part of field.split('.')) {
    cur = isObject(cur) ? cur[part] : undefined;
  }
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'boolean' || typeof cur === 'number') return String(cur);
  return '';
}

export function matchesFields(requirements: readonly FieldRequirement[], obj: JsonObject): boolean {
  return requirements.every((r) => (fieldValue(obj, r.field) === r.value) !== r.negate);
}
