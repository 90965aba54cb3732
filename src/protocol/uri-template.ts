/**
 * RFC 6570 URI templates (levels 1-4): expansion, and the reverse match a server needs
 * to route `resources/read` to a template and pull out its variables.
 *
 * RFC 6570 defines expansion only (MCP resource templates are RFC 6570 templates; the spec leaves
 * matching to servers). Matching runs on every read of a templated resource with a client-chosen
 * URI, so it follows these rules, which keep it deterministic and linear:
 *
 * - Time. Each expression compiles to an atomic group (a lookahead whose capture a backreference
 *   then consumes), so no expression is ever re-split once matched: a match costs
 *   O(URI length x template length) whatever the template, and a few microseconds for everyday
 *   ones. URIs longer than MAX_MATCH_LENGTH are refused without being scanned.
 * - Extent. An expression stops before the operator character of any expression directly after it
 *   (`{a}{.ext}`: `a` ends at its first '.'), and at the first occurrence of the literal after it
 *   that is itself followed by what may come next (`{+path}/data{?q}`: the '/data' before a '?' or
 *   the end); a literal that ends the template must end the URI. A URI that only some other split
 *   would match does not match (`{+a}/x/{b}` against `p/x/q/x/r`).
 * - Ambiguity. The constructor refuses (TypeError) an expression without operator (`{b}`, `{+b}`)
 *   directly after another expression, since nothing marks where one ends and the other begins,
 *   and a `{/...}` or `{....}` expression directly after a list of the same operator (`{/a*}{/b}`,
 *   `{.a,b}{.c}`). Write a literal between them, or one multi-variable expression. Adjacent query
 *   (`{?q}{&page}`) or path-parameter (`{;a}{;b}`) expressions match as one unit and their
 *   variables are found by name, in any order.
 * - Literals match as expand writes them (characters a URI cannot hold pct-encoded, pct-encoded
 *   triplets as they are) or, when they hold no '%', exactly as written in the template.
 * - Values come back pct-decoded. Arrays come only from list syntax: an exploded variable
 *   (`{/segs*}`, `{?tag*}`) always gives an array; any other gives one when its raw text holds a
 *   ',' (how expand writes a list) and the operator is not reserved. A ',' that arrives
 *   pct-encoded is part of a single value. Reserved expressions (`{+a}`, `{#a}`) write commas raw,
 *   so their single variable always gives a string.
 */

type Op = '' | '+' | '#' | '.' | '/' | ';' | '?' | '&';
interface VarSpec {
  name: string;
  explode: boolean;
  prefix?: number;
}
interface Expression {
  op: Op;
  vars: VarSpec[];
  /** The expression as written, braces included, for error messages. */
  text: string;
}
type Part = string | Expression;

/** What match() captures as one unit: an expression, or a run of adjacent named ones. */
interface Segment {
  op: Op;
  vars: VarSpec[];
  /** The characters its expansion can start with; empty for `{a}` and `{+a}`. */
  lead: string;
}

const OPS: Record<Op, { first: string; sep: string; named: boolean; ifEmpty: string; reserved: boolean }> = {
  '': { first: '', sep: ',', named: false, ifEmpty: '', reserved: false },
  '+': { first: '', sep: ',', named: false, ifEmpty: '', reserved: true },
  '#': { first: '#', sep: ',', named: false, ifEmpty: '', reserved: true },
  '.': { first: '.', sep: '.', named: false, ifEmpty: '', reserved: false },
  '/': { first: '/', sep: '/', named: false, ifEmpty: '', reserved: false },
  ';': { first: ';', sep: ';', named: true, ifEmpty: '', reserved: false },
  '?': { first: '?', sep: '&', named: true, ifEmpty: '=', reserved: false },
  '&': { first: '&', sep: '&', named: true, ifEmpty: '=', reserved: false },
};

/**
 * Characters a matched value may not contain, beyond its neighbours' operators. Lenient on
 * purpose (a client may send a raw ':' or space): only the delimiters that end a component.
 */
const STOPS: Record<Op, string> = {
  '': '/?#',
  '+': '',
  '#': '',
  '.': '/?#',
  '/': '?#',
  ';': '/?#',
  '?': '#',
  '&': '#',
};

const VARNAME = /^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*$/;
export const MAX_TEMPLATE_LENGTH = 2048;
/** Longest URI match() considers, in UTF-16 code units; longer ones never match. */
export const MAX_MATCH_LENGTH = 8192;

export type TemplateVariables = Record<string, string | string[]>;

export class UriTemplate {
  readonly template: string;
  readonly variableNames: readonly string[];
  private readonly parts: Part[];
  /** `parts` with each literal already encoded the way expand writes it. */
  private readonly expansion: Part[];
  private readonly matcher: RegExp;
  private readonly segments: Segment[];

  constructor(template: string) {
    if (typeof template !== 'string' || template.length === 0 || template.length > MAX_TEMPLATE_LENGTH) {
      throw new TypeError(
        `URI template must be a non-empty string of at most ${MAX_TEMPLATE_LENGTH} characters`,
      );
    }
    this.template = template;
    this.parts = parse(template);
    this.variableNames = this.parts.flatMap((p) => (typeof p === 'string' ? [] : p.vars.map((v) => v.name)));
    this.expansion = this.parts.map((p) => (typeof p === 'string' ? encodeLiteral(p) : p));
    const { regex, segments } = compile(segment(this.parts, template));
    this.matcher = regex;
    this.segments = segments;
  }

  static isTemplate(value: string): boolean {
    return /\{[^}]+\}/.test(value);
  }

  expand(variables: Record<string, unknown>): string {
    let out = '';
    for (const part of this.expansion) {
      out += typeof part === 'string' ? part : expandExpression(part, variables);
    }
    return out;
  }

  /** Returns the variables if `uri` is an expansion of this template, else undefined. */
  match(uri: string): TemplateVariables | undefined {
    if (typeof uri !== 'string' || uri.length > MAX_MATCH_LENGTH) return undefined;
    const m = this.matcher.exec(uri);
    if (!m) return undefined;
    const result: TemplateVariables = {};
    for (let i = 0; i < this.segments.length; i++) {
      if (!readSegment(this.segments[i]!, m[i + 1] ?? '', result)) return undefined;
    }
    return result;
  }

  toString(): string {
    return this.template;
  }
}

function parse(template: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      parts.push(template.slice(i));
      break;
    }
    if (open > i) parts.push(template.slice(i, open));
    const close = template.indexOf('}', open);
    if (close < 0) throw new TypeError(`Unclosed expression in URI template: ${template}`);
    let body = template.slice(open + 1, close);
    let op: Op = '';
    if (body.length > 0 && '+#./;?&'.includes(body[0]!)) {
      op = body[0] as Op;
      body = body.slice(1);
    }
    const vars = body.split(',').map((spec): VarSpec => {
      let name = spec;
      let explode = false;
      let prefix: number | undefined;
      if (name.endsWith('*')) {
        explode = true;
        name = name.slice(0, -1);
      }
      const colon = name.indexOf(':');
      if (colon >= 0) {
        prefix = Number(name.slice(colon + 1));
        name = name.slice(0, colon);
        if (!Number.isInteger(prefix) || prefix <= 0 || prefix >= 10000) {
          throw new TypeError(`Bad prefix modifier in URI template: ${spec}`);
        }
      }
      if (!VARNAME.test(name)) throw new TypeError(`Bad variable name in URI template: ${spec}`);
      return prefix === undefined ? { name, explode } : { name, explode, prefix };
    });
    parts.push({ op, vars, text: template.slice(open, close + 1) });
    i = close + 1;
  }
  return parts;
}

/**
 * Groups the parts into what match() captures, refusing the adjacent expressions no match can
 * split (see the module comment). Adjacent named expressions merge: `{?q}{&page}` is one query.
 */
function segment(parts: Part[], template: string): (string | Segment)[] {
  const out: (string | Segment)[] = [];
  let prevText = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out.push(part);
      continue;
    }
    const prev = out[out.length - 1];
    if (prev !== undefined && typeof prev !== 'string') {
      const ambiguous = `URI template ${template}: ${part.text} directly follows ${prevText}`;
      if (part.op === '' || part.op === '+') {
        throw new TypeError(`${ambiguous} with nothing to mark where one ends; put a literal between them`);
      }
      const sameList =
        (part.op === '/' || part.op === '.') &&
        prev.op === part.op &&
        (prev.vars.length > 1 || prev.vars.some((v) => v.explode));
      if (sameList) {
        throw new TypeError(
          `${ambiguous}, whose list uses the same '${part.op}' separator; put a literal between them`,
        );
      }
      if ((part.op === '&' && (prev.op === '?' || prev.op === '&')) || (part.op === ';' && prev.op === ';')) {
        prev.vars.push(...part.vars);
        if (!prev.lead.includes(part.op)) prev.lead += part.op;
        prevText = part.text;
        continue;
      }
    }
    out.push({ op: part.op, vars: [...part.vars], lead: OPS[part.op].first });
    prevText = part.text;
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function charClass(chars: string, negated: boolean): string {
  const body = escapeRegex([...new Set(chars)].join(''));
  if (body === '') return negated ? '[\\s\\S]' : '[]';
  return negated ? `[^${body}]` : `[${body}]`;
}

/** A literal as expand writes it, and as written when that differs and holds no '%'. */
function literalForms(literal: string): string[] {
  const encoded = encodeLiteral(literal);
  return encoded === literal || literal.includes('%') ? [encoded] : [encoded, literal];
}

function literalPattern(literal: string): string {
  const forms = literalForms(literal).map(escapeRegex);
  return forms.length === 1 ? forms[0]! : `(?:${forms.join('|')})`;
}

/**
 * A pattern for what can begin at items[k]: the operator of any operator-led expression there
 * (each may be absent), then the next literal or the end. `depth` more levels check what follows
 * that literal, so `{+path}/data{?q}` finds the '/data' that a query or the end comes after.
 * An expression without operator there (possible only after a literal) can begin with almost
 * anything, so nothing further is checked.
 */
function ahead(items: (string | Segment)[], k: number, depth: number): string | undefined {
  let leads = '';
  for (; k < items.length && typeof items[k] !== 'string'; k++) {
    const lead = (items[k] as Segment).lead;
    if (lead === '') return undefined;
    leads += lead;
  }
  const alternatives = leads === '' ? [] : [charClass(leads, false)];
  if (k === items.length) alternatives.push('$');
  else {
    const next = depth > 0 ? ahead(items, k + 1, depth - 1) : undefined;
    alternatives.push(literalPattern(items[k] as string) + (next === undefined ? '' : `(?=${next})`));
  }
  return alternatives.join('|');
}

/**
 * One anchored regex; each segment is `(?=(body))\N`. The lookahead is atomic (once it
 * succeeds the engine never re-enters it), so no segment is re-split when a later one fails.
 * A segment's body is greedy when that cannot change the outcome (no character it may hold
 * starts what follows it); otherwise it is the shortest run followed by what comes next: an
 * adjacent expression's operator, or the next literal (itself followed by what may come after
 * it), or the end. An operator-led segment that finds no such run matches as absent. Every
 * step is a bounded lookahead at one position, so a match is O(URI length x template length).
 */
function compile(items: (string | Segment)[]): { regex: RegExp; segments: Segment[] } {
  let source = '^';
  const segments: Segment[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (typeof item === 'string') {
      source += literalPattern(item);
      continue;
    }
    // Any of the expressions directly after this one may be absent: each of their operators can follow.
    let follow = '';
    let j = i + 1;
    for (; j < items.length && typeof items[j] !== 'string'; j++) follow += (items[j] as Segment).lead;
    const literal = items[j] as string | undefined;
    const excluded = STOPS[item.op] + follow;
    const firsts = literal === undefined ? [] : literalForms(literal).map((f) => f[0]!);
    const lazy =
      firsts.some((c) => !excluded.includes(c)) ||
      [...item.lead].some((c) => follow.includes(c) || firsts.includes(c));
    const cls = charClass(excluded, true);
    // The segments after this one are operator-led (the constructor refuses the rest), so `ahead` is defined.
    const body = lazy ? `${cls}*?(?=${ahead(items, i + 1, 1)})` : `${cls}*`;
    const whole = item.lead === '' ? body : `(?:${charClass(item.lead, false)}${body})?`;
    segments.push(item);
    // (?:\N) keeps a following literal digit from extending the group number.
    source += `(?=(${whole}))(?:\\${segments.length})`;
  }
  return { regex: new RegExp(`${source}$`), segments };
}

function decode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function decodeAll(items: string[]): string[] | undefined {
  const out: string[] = [];
  for (const item of items) {
    const value = decode(item);
    if (value === undefined) return undefined;
    out.push(value);
  }
  return out;
}

/** A raw ',' marks a list (expand encodes a scalar's commas): split before decoding. */
function decodeList(raw: string): string | string[] | undefined {
  if (!raw.includes(',')) return decode(raw);
  return decodeAll(raw.split(','));
}

function set(out: TemplateVariables, name: string, value: string | string[]): void {
  // A plain assignment to `__proto__` would replace the result's prototype instead.
  if (name === '__proto__')
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

function readSegment(seg: Segment, raw: string, out: TemplateVariables): boolean {
  const { op, vars } = seg;
  const { first, named, reserved } = OPS[op];
  if (first !== '') {
    if (raw === '') return true; // absent: its variables were undefined
    raw = raw.slice(1);
  }
  if (named) return readNamed(seg, raw, out);
  const sep = op === '/' || op === '.' ? op : ',';
  if (vars.length === 1) {
    const spec = vars[0]!;
    let value: string | string[] | undefined;
    if (spec.explode) value = decodeAll(raw.split(sep));
    else if (reserved) value = decode(raw);
    else {
      if (op === '' && raw === '') return false;
      value = decodeList(raw);
    }
    if (value === undefined) return false;
    set(out, spec.name, value);
    return true;
  }
  const values = raw.split(sep);
  for (let i = 0; i < vars.length && i < values.length; i++) {
    const decoded = decode(values[i]!);
    if (decoded === undefined) return false;
    set(out, vars[i]!.name, decoded);
  }
  return true;
}

function readNamed(seg: Segment, raw: string, out: TemplateVariables): boolean {
  const sep = OPS[seg.op].sep;
  for (const pair of raw.split(sep)) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const spec = seg.vars.find((v) => v.name === key);
    if (!spec) continue;
    const text = eq < 0 ? '' : pair.slice(eq + 1);
    if (spec.explode) {
      const value = decode(text);
      if (value === undefined) return false;
      const prev = Object.hasOwn(out, key) ? out[key] : undefined;
      set(out, key, prev === undefined ? [value] : Array.isArray(prev) ? [...prev, value] : [prev, value]);
    } else {
      const value = decodeList(text);
      if (value === undefined) return false;
      set(out, key, value);
    }
  }
  return true;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const RESERVED = /[:/?#[\]@!$&'()*+,;=]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const PCT_TRIPLET = /^%[0-9A-Fa-f]{2}/;

/** UTF-8 cannot carry a lone surrogate (encodeURIComponent throws): it becomes U+FFFD. */
function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\ufffd');
}

function encodeChar(ch: string, allowReserved: boolean): string {
  if (UNRESERVED.test(ch) || (allowReserved && RESERVED.test(ch))) return ch;
  return encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function encodeValue(value: string, allowReserved: boolean): string {
  let out = '';
  for (const ch of wellFormed(value)) out += encodeChar(ch, allowReserved);
  return out;
}

/** RFC 6570 section 3.1: URI characters copied, pct-encoded triplets copied as is, the rest encoded. */
function encodeLiteral(literal: string): string {
  const s = wellFormed(literal);
  let out = '';
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%' && PCT_TRIPLET.test(s.slice(i, i + 3))) {
      out += s.slice(i, i + 3);
      i += 3;
      continue;
    }
    const ch = String.fromCodePoint(s.codePointAt(i)!);
    out += encodeChar(ch, true);
    i += ch.length;
  }
  return out;
}

function expandExpression(expr: Expression, variables: Record<string, unknown>): string {
  const { first, sep, named, ifEmpty, reserved } = OPS[expr.op];
  const pieces: string[] = [];
  for (const spec of expr.vars) {
    // Own properties only: `{constructor}` must not expand Object.prototype.constructor.
    const value = Object.hasOwn(variables, spec.name) ? variables[spec.name] : undefined;
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
      const items = value.map((v) => encodeValue(String(v), reserved));
      if (spec.explode) {
        pieces.push(items.map((it) => (named ? `${spec.name}=${it}` : it)).join(sep));
      } else {
        pieces.push((named ? `${spec.name}=` : '') + items.join(','));
      }
    } else if (typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) continue;
      if (spec.explode) {
        pieces.push(
          entries
            .map(([k, v]) => `${encodeValue(k, reserved)}=${encodeValue(String(v), reserved)}`)
            .join(sep),
        );
      } else {
        const flat = entries
          .flatMap(([k, v]) => [encodeValue(k, reserved), encodeValue(String(v), reserved)])
          .join(',');
        pieces.push((named ? `${spec.name}=` : '') + flat);
      }
    } else {
      let s = String(value);
      if (spec.prefix !== undefined) s = Array.from(s).slice(0, spec.prefix).join('');
      const enc = encodeValue(s, reserved);
      if (named) pieces.push(enc === '' ? spec.name + ifEmpty : `${spec.name}=${enc}`);
      else pieces.push(enc);
    }
  }
  return pieces.length === 0 ? '' : first + pieces.join(sep);
}
