// Object validation and defaulting, following the API server's rules for the fields the fake serves.
// Two kinds of failure, as on a real server: a body whose JSON types do not fit the schema cannot be decoded
// (DecodeError → 400 BadRequest); a well-typed object that breaks a rule is invalid (causes → 422 Invalid).
import { isIP } from 'node:net';
import { isObject, type JsonObject, type JsonValue } from './json.js';

export interface Cause {
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueForbidden' | 'FieldValueDuplicate';
  field: string;
  message: string;
}

export class DecodeError extends Error {}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters. */
export function isQualifiedName(key: string): boolean {
  const parts = key.split('/');
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1] ?? '';
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (prefix === '' || !isDns1123Subdomain(prefix)) return false;
  }
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && QUALIFIED_NAME_PART.test(value));
}

function invalid(field: string, value: JsonValue | undefined, detail: string): Cause {
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value ?? null)}: ${detail}` };
}

function required(field: string, detail = 'Required value'): Cause {
  return { reason: 'FieldValueRequired', field, message: detail };
}

function expectObject(value: JsonValue | undefined, field: string): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new DecodeError(`json: cannot unmarshal ${typeof value} into Go struct field ${field} of type object`);
  return value;
}

function expectArray(value: JsonValue | undefined, field: string): JsonValue[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new DecodeError(`json: cannot unmarshal ${typeof value} into Go struct field ${field} of type array`);
  return value;
}

function expectString(value: JsonValue | undefined, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new DecodeError(`json: cannot unmarshal ${typeof value} into Go struct field ${field} of type string`);
  return value;
}

function expectStringMap(value: JsonValue | undefined, field: string): Record<string, string> | undefined {
  const obj = expectObject(value, field);
  if (obj === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    const s = expectString(v, `${field}.${k}`);
    if (s === undefined) throw new DecodeError(`json: cannot unmarshal null into Go struct field ${field} of type string`);
    out[k] = s;
  }
  return out;
}

export type NameRule = 'dns1123-label' | 'dns1123-subdomain';

export function validateName(name: string, rule: NameRule, field = 'metadata.name'): Cause[] {
  if (rule === 'dns1123-label' ? isDns1123Label(name) : isDns1123Subdomain(name)) return [];
  const detail =
    rule === 'dns1123-label'
      ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
      : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  return [invalid(field, name, detail)];
}

export function validateLabels(labels: JsonValue | undefined, field: string): Cause[] {
  const map = expectStringMap(labels, field);
  if (map === undefined) return [];
  const causes: Cause[] = [];
  for (const [k, v] of Object.entries(map)) {
    if (!isQualifiedName(k)) causes.push(invalid(field, k, 'name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character'));
    if (!isLabelValue(v)) causes.push(invalid(`${field}.${k}`, v, 'a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character'));
  }
  return causes;
}

/** Metadata shared by all kinds: labels and annotation keys. The name is validated by the caller (it knows the rule). */
export function validateMetadata(metadata: JsonObject): Cause[] {
  const causes = validateLabels(metadata['labels'], 'metadata.labels');
  const annotations = expectStringMap(metadata['annotations'], 'metadata.annotations');
  for (const k of Object.keys(annotations ?? {})) {
    if (!isQualifiedName(k)) causes.push(invalid('metadata.annotations', k, 'name part must consist of alphanumeric characters'));
  }
  return causes;
}

export function validatePodSpec(spec: JsonValue | undefined): Cause[] {
  const obj = expectObject(spec, 'spec');
  if (obj === undefined) return [required('spec.containers')];
  const causes: Cause[] = [];
  const containers = expectArray(obj['containers'], 'spec.containers') ?? [];
  if (containers.length === 0) causes.push(required('spec.containers'));
  const seen = new Set<string>();
  containers.forEach((c, i) => {
    const field = `spec.containers[${i}]`;
    const container = expectObject(c, field) ?? {};
    const name = expectString(container['name'], `${field}.name`);
    if (name === undefined || name === '') causes.push(required(`${field}.name`));
    else if (!isDns1123Label(name)) causes.push(...validateName(name, 'dns1123-label', `${field}.name`));
    else if (seen.has(name)) causes.push({ reason: 'FieldValueDuplicate', field: `${field}.name`, message: `Duplicate value: "${name}"` });
    if (name !== undefined) seen.add(name);
    const image = expectString(container['image'], `${field}.image`);
    if (image === undefined || image.trim() === '') causes.push(required(`${field}.image`));
  });
  return causes;
}

/**
 * Pod updates may change only container images, activeDeadlineSeconds and tolerations (the API server forbids
 * the rest); status is owned by the kubelet and is not changed through the main resource.
 */
export function podSpecUpdateCauses(oldSpec: JsonValue | undefined, newSpec: JsonValue | undefined): Cause[] {
  const strip = (spec: JsonValue | undefined): string => {
    if (!isObject(spec)) return JSON.stringify(spec ?? null);
    const copy = structuredClone(spec);
    for (const list of ['containers', 'initContainers']) {
      const items = copy[list];
      if (Array.isArray(items)) for (const item of items) if (isObject(item)) delete item['image'];
    }
    delete copy['activeDeadlineSeconds'];
    delete copy['tolerations'];
    return stableStringify(copy);
  };
  if (strip(oldSpec) === strip(newSpec)) return [];
  return [
    {
      reason: 'FieldValueForbidden',
      field: 'spec',
      message:
        'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)',
    },
  ];
}

export function stableStringify(value: JsonValue | undefined): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function validateLabelSelector(value: JsonValue | undefined, field: string): Cause[] {
  const sel = expectObject(value, field);
  if (sel === undefined) return [];
  const causes = validateLabels(sel['matchLabels'], `${field}.matchLabels`);
  const exprs = expectArray(sel['matchExpressions'], `${field}.matchExpressions`) ?? [];
  exprs.forEach((e, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const expr = expectObject(e, f) ?? {};
    const key = expectString(expr['key'], `${f}.key`) ?? '';
    if (!isQualifiedName(key)) causes.push(invalid(`${f}.key`, key, 'must be a qualified name'));
    const op = expectString(expr['operator'], `${f}.operator`) ?? '';
    const values = (expectArray(expr['values'], `${f}.values`) ?? []).map((v, j) => expectString(v, `${f}.values[${j}]`) ?? '');
    if (op === 'In' || op === 'NotIn') {
      if (values.length === 0) causes.push(required(`${f}.values`, 'Required value: must be specified when `operator` is \'In\' or \'NotIn\''));
    } else if (op === 'Exists' || op === 'DoesNotExist') {
      if (values.length > 0) causes.push({ reason: 'FieldValueForbidden', field: `${f}.values`, message: 'Forbidden: may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'' });
    } else {
      causes.push({ reason: 'FieldValueNotSupported', field: `${f}.operator`, message: `Unsupported value: "${op}": supported values: "In", "NotIn", "Exists", "DoesNotExist"` });
    }
  });
  return causes;
}

function parseCidr(cidr: string): { family: 4 | 6; bits: bigint; prefix: number } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (m === null) return undefined;
  const ip = m[1] ?? '';
  const prefix = Number(m[2]);
  const family = isIP(ip);
  if (family === 4) {
    if (prefix > 32) return undefined;
    const bits = ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
    return { family: 4, bits, prefix };
  }
  if (family === 6) {
    if (prefix > 128) return undefined;
    const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
    const h = head === '' ? [] : head.split(':');
    const t = tail === '' ? [] : tail.split(':');
    if (t.some((g) => g.includes('.')) || h.some((g) => g.includes('.'))) return undefined; // v4-mapped: not needed here
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const bits = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
    return { family: 6, bits, prefix };
  }
  return undefined;
}

function cidrContains(outer: { family: 4 | 6; bits: bigint; prefix: number }, inner: { family: 4 | 6; bits: bigint; prefix: number }): boolean {
  if (outer.family !== inner.family || inner.prefix <= outer.prefix) return false;
  const width = outer.family === 4 ? 32n : 128n;
  const shift = width - BigInt(outer.prefix);
  return outer.bits >> shift === inner.bits >> shift;
}

function validatePeers(value: JsonValue | undefined, field: string): Cause[] {
  const causes: Cause[] = [];
  (expectArray(value, field) ?? []).forEach((p, i) => {
    const f = `${field}[${i}]`;
    const peer = expectObject(p, f) ?? {};
    const ipBlock = expectObject(peer['ipBlock'], `${f}.ipBlock`);
    const hasSelectors = peer['podSelector'] != null || peer['namespaceSelector'] != null;
    if (ipBlock === undefined && !hasSelectors) causes.push(required(f, 'Required value: must specify a peer'));
    if (ipBlock !== undefined && hasSelectors) causes.push({ reason: 'FieldValueForbidden', field: f, message: 'Forbidden: may not specify more than 1 peer type' });
    causes.push(...validateLabelSelector(peer['podSelector'], `${f}.podSelector`));
    causes.push(...validateLabelSelector(peer['namespaceSelector'], `${f}.namespaceSelector`));
    if (ipBlock !== undefined) {
      const cidrText = expectString(ipBlock['cidr'], `${f}.ipBlock.cidr`) ?? '';
      const cidr = parseCidr(cidrText);
      if (cidr === undefined) causes.push(invalid(`${f}.ipBlock.cidr`, cidrText, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
      (expectArray(ipBlock['except'], `${f}.ipBlock.except`) ?? []).forEach((e, j) => {
        const exceptText = expectString(e, `${f}.ipBlock.except[${j}]`) ?? '';
        const except = parseCidr(exceptText);
        if (except === undefined) causes.push(invalid(`${f}.ipBlock.except[${j}]`, exceptText, 'must be a valid CIDR value'));
        else if (cidr !== undefined && !cidrContains(cidr, except)) causes.push(invalid(`${f}.ipBlock.except[${j}]`, exceptText, 'must be a strict subset of `cidr`'));
      });
    }
  });
  return causes;
}

function validatePorts(value: JsonValue | undefined, field: string): Cause[] {
  const causes: Cause[] = [];
  (expectArray(value, field) ?? []).forEach((p, i) => {
    const f = `${field}[${i}]`;
    const port = expectObject(p, f) ?? {};
    const protocol = expectString(port['protocol'], `${f}.protocol`);
    if (protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(protocol)) {
      causes.push({ reason: 'FieldValueNotSupported', field: `${f}.protocol`, message: `Unsupported value: "${protocol}": supported values: "SCTP", "TCP", "UDP"` });
    }
    const portValue = port['port'];
    if (typeof portValue === 'number') {
      if (!Number.isInteger(portValue) || portValue < 1 || portValue > 65535) causes.push(invalid(`${f}.port`, portValue, 'must be between 1 and 65535, inclusive'));
    } else if (typeof portValue === 'string') {
      if (portValue.length > 15 || !IANA_SVC_NAME.test(portValue) || !/[a-z]/.test(portValue) || portValue.includes('--')) {
        causes.push(invalid(`${f}.port`, portValue, 'must be a valid IANA_SVC_NAME'));
      }
    } else if (portValue !== undefined && portValue !== null) {
      throw new DecodeError(`json: cannot unmarshal ${typeof portValue} into Go struct field ${f}.port of type intstr`);
    }
    const endPort = port['endPort'];
    if (endPort !== undefined && endPort !== null) {
      if (typeof endPort !== 'number') throw new DecodeError(`json: cannot unmarshal ${typeof endPort} into Go struct field ${f}.endPort of type int32`);
      if (typeof portValue !== 'number') causes.push({ reason: 'FieldValueForbidden', field: `${f}.endPort`, message: 'Forbidden: may not be specified when `port` is non-numeric or absent' });
      else if (endPort < portValue) causes.push(invalid(`${f}.endPort`, endPort, 'must be greater than or equal to `port`'));
    }
  });
  return causes;
}

const NETPOL_SPEC_FIELDS = new Set(['podSelector', 'ingress', 'egress', 'policyTypes']);

/**
 * Applies the API server's NetworkPolicy defaults and its storage round trip: unknown spec fields are dropped
 * (fieldValidation=Warn, the default), ports default to TCP, policyTypes default to Ingress plus Egress when there
 * are egress rules, and empty lists and maps disappear (they are omitempty in the Go types). Returns the
 * names of dropped fields, for the Warning header.
 */
export function defaultNetworkPolicy(obj: JsonObject): string[] {
  const specValue = obj['spec'];
  const spec: JsonObject = isObject(specValue) ? specValue : {};
  obj['spec'] = spec;
  const dropped: string[] = [];
  for (const key of Object.keys(spec)) {
    if (!NETPOL_SPEC_FIELDS.has(key)) {
      dropped.push(`spec.${key}`);
      delete spec[key];
    }
  }
  const selector = isObject(spec['podSelector']) ? spec['podSelector'] : {};
  spec['podSelector'] = selector;
  dropEmptySelector(selector);
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = spec[direction];
    if (!Array.isArray(rules) || rules.length === 0) {
      delete spec[direction];
      continue;
    }
    for (const rule of rules) {
      if (!isObject(rule)) continue;
      const ports = rule['ports'];
      if (Array.isArray(ports)) {
        for (const port of ports) if (isObject(port) && port['protocol'] == null) port['protocol'] = 'TCP';
      }
      for (const key of ['ports', 'from', 'to']) {
        const list = rule[key];
        if (Array.isArray(list) && list.length === 0) delete rule[key];
      }
      for (const peers of [rule['from'], rule['to']]) {
        if (!Array.isArray(peers)) continue;
        for (const peer of peers) {
          if (!isObject(peer)) continue;
          for (const sel of [peer['podSelector'], peer['namespaceSelector']]) if (isObject(sel)) dropEmptySelector(sel);
        }
      }
    }
  }
  const types = spec['policyTypes'];
  if (!Array.isArray(types) || types.length === 0) {
    spec['policyTypes'] = Array.isArray(spec['egress']) ? ['Ingress', 'Egress'] : ['Ingress'];
  }
  return dropped;
}

function dropEmptySelector(selector: JsonObject): void {
  const labels = selector['matchLabels'];
  if (isObject(labels) && Object.keys(labels).length === 0) delete selector['matchLabels'];
  const exprs = selector['matchExpressions'];
  if (Array.isArray(exprs) && exprs.length === 0) delete selector['matchExpressions'];
}

/** Validates a NetworkPolicy spec; throws DecodeError when its JSON types are wrong. Call before defaulting. */
export function validateNetworkPolicySpec(specValue: JsonValue | undefined): Cause[] {
  const spec = expectObject(specValue, 'spec');
  if (spec === undefined) return [];
  const causes = validateLabelSelector(spec['podSelector'], 'spec.podSelector');
  const types = (expectArray(spec['policyTypes'], 'spec.policyTypes') ?? []).map((t, i) => expectString(t, `spec.policyTypes[${i}]`) ?? '');
  if (types.length > 2) causes.push({ reason: 'FieldValueForbidden', field: 'spec.policyTypes', message: 'Forbidden: may not specify more than two policyTypes' });
  const seen = new Set<string>();
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') {
      causes.push({ reason: 'FieldValueNotSupported', field: `spec.policyTypes[${i}]`, message: `Unsupported value: "${t}": supported values: "Egress", "Ingress"` });
    } else if (seen.has(t)) {
      causes.push({ reason: 'FieldValueDuplicate', field: `spec.policyTypes[${i}]`, message: `Duplicate value: "${t}"` });
    }
    seen.add(t);
  });
  for (const [direction, peersKey] of [['ingress', 'from'], ['egress', 'to']] as const) {
    (expectArray(spec[direction], `spec.${direction}`) ?? []).forEach((r, i) => {
      const f = `spec.${direction}[${i}]`;
      const rule = expectObject(r, f) ?? {};
      causes.push(...validatePorts(rule['ports'], `${f}.ports`));
      causes.push(...validatePeers(rule[peersKey], `${f}.${peersKey}`));
    });
  }
  return causes;
}
