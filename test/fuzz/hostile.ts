import fc from 'fast-check';

/**
 * Hostile input for the fuzzer: strings (unicode edge cases, SQL and HTML payloads, huge and
 * empty values), wrong JSON types, and the ways a request body or query can be encoded
 * wrongly (duplicated parameters, broken percent escapes, invalid UTF-8, broken JSON, wrong
 * content types).
 */
const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800', // lone high surrogate
  'x\uDFFFy', // lone low surrogate
  '\u202Eevil\u202C', // right-to-left override
  'e\u0301\u0302\u0303\u0304\u0305\u0306', // stacked combining marks
  '\uFEFF\u200B\u2028\u2029',
  '🦀'.repeat(40),
  "' OR '1'='1",
  "'; DROP TABLE accounts; --",
  '1) UNION SELECT password_hash FROM accounts --',
  '$1',
  '\\',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '{{7*7}}<%= 7*7 %>${7*7}',
  '../../../../etc/passwd',
  'javascript:alert(1)',
  'data:text/html,<b>x</b>',
  'https://evil.example/cb',
  'http://localhost/\r\nX-Injected: 1',
  '%00%zz%',
  'null',
  'true',
  '-1',
  '1e309',
  'NaN',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'a'.repeat(5_000),
];

/** Larger than every body limit Latch sets (it keeps form and JSON bodies small). */
const HUGE_STRINGS = ['a'.repeat(200_000), '€'.repeat(100_000), 'A'.repeat(1_100_000)];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(...HUGE_STRINGS) },
);

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'a[b]', 'a[]', 'a[__proto__][x]', 'x'.repeat(300), '', '\u0000', '$where'),
  fc.string({ maxLength: 12 }),
);

/** A value of any JSON type, including nesting deep enough to hurt a recursive validator. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, 1e308, -0, 0.5) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileKey, hostileString, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.constant(JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`)) },
);

const ENCODINGS = ['form', 'form', 'form', 'form-raw', 'form-broken', 'json', 'json', 'json-broken', 'bytes'] as const;
export type Encoding = (typeof ENCODINGS)[number];

const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/xml',
  'multipart/form-data; boundary=zzz',
  'application/json; charset=utf-16',
  'application/x-www-form-urlencoded; charset=iso-8859-1',
  'application/x-www-form-urlencoded; charset=unknown-8bit',
  'garbage',
  '',
];

/** How one request differs from a well-formed one. */
export type Mutation = {
  drop: string[];
  replace: Record<string, unknown>;
  duplicate: string[];
  extra: Array<[string, string]>;
  encoding: Encoding;
  contentType: string | null;
  pathValue: string | null;
};

export function mutationOf(keys: string[], hasPathParam: boolean): fc.Arbitrary<Mutation> {
  const someKeys = keys.length ? fc.subarray(keys, { maxLength: Math.min(3, keys.length) }) : fc.constant([] as string[]);
  return fc.record({
    drop: someKeys,
    replace: keys.length ? fc.dictionary(fc.constantFrom(...keys), hostileJson, { maxKeys: 3 }) : fc.constant({}),
    duplicate: someKeys,
    extra: fc.array(fc.tuple(hostileKey, hostileString), { maxLength: 2 }),
    encoding: fc.constantFrom(...ENCODINGS),
    contentType: fc.option(fc.constantFrom(...WRONG_CONTENT_TYPES), { freq: 4 }),
    pathValue: hasPathParam ? fc.option(hostileString, { freq: 2 }) : fc.constant(null),
  });
}

/** Percent-encodes the UTF-8 bytes of a string (a lone surrogate becomes U+FFFD's bytes). */
export function percent(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const asText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value) ?? '');

/** The parameters of a request after the mutation, as pairs (arrays repeat their key). */
export function mutatedPairs(base: Record<string, unknown>, m: Mutation): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(base)) {
    if (m.drop.includes(key)) continue;
    const replaced = key in m.replace ? m.replace[key] : value;
    if (Array.isArray(replaced) && replaced.length < 50) for (const item of replaced) pairs.push([key, asText(item)]);
    else pairs.push([key, asText(replaced)]);
    if (m.duplicate.includes(key)) pairs.push([key, asText(replaced)]);
  }
  return [...pairs, ...m.extra];
}

const BROKEN_TAILS = ['%', '%zz=1', 'a=%E0%A4%A', 'b=%ED%A0%80', 'c=%C0%AF', '=', '&&&', 'd[a][b][c][d][e][f][g]=1', 'e[__proto__][polluted]=1', '%FF%FE=%00'];

export function encodeQuery(pairs: Array<[string, string]>, encoding: Encoding): string {
  if (encoding === 'form-raw') return pairs.map(([k, v]) => `${k}=${v}`).join('&').replace(/[#\s]/g, (c) => percent(c));
  const proper = pairs.map(([k, v]) => `${percent(k)}=${percent(v)}`).join('&');
  if (encoding === 'form-broken') return `${proper}&${BROKEN_TAILS[pairs.length % BROKEN_TAILS.length]}`;
  return proper;
}

/** A request body and its content type, built from the mutated parameters. */
export function encodeBody(base: Record<string, unknown>, m: Mutation): { body: Buffer; contentType: string | undefined } {
  const pairs = mutatedPairs(base, m);
  let body: Buffer;
  let contentType: string;
  switch (m.encoding) {
    case 'json':
    case 'json-broken': {
      const object: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(base)) if (!m.drop.includes(key)) object[key] = key in m.replace ? m.replace[key] : value;
      for (const [key, value] of m.extra) object[key] = value;
      const text = JSON.stringify(object);
      body = Buffer.from(m.encoding === 'json' ? text : `${text.slice(0, Math.max(1, text.length - 2))},"x":`);
      contentType = 'application/json';
      break;
    }
    case 'bytes':
      body = Buffer.concat([Buffer.from(encodeQuery(pairs, 'form')), Buffer.from([0x26, 0x78, 0x3d, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x00])]);
      contentType = 'application/x-www-form-urlencoded';
      break;
    default:
      body = Buffer.from(encodeQuery(pairs, m.encoding));
      contentType = 'application/x-www-form-urlencoded';
  }
  return { body, contentType: m.contentType === null ? contentType : m.contentType || undefined };
}
