/**
 * RFC 6570 URI templates (levels 1-4): expansion, and the reverse match a server needs
 * to route `resources/read` to a template and pull out its variables.
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
}
type Part = string | Expression;

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

const VARNAME = /^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*$/;
export const MAX_TEMPLATE_LENGTH = 2048;

export type TemplateVariables = Record<string, string | string[]>;

export class UriTemplate {
  readonly template: string;
  readonly variableNames: readonly string[];
  private readonly parts: Part[];
  private readonly matcher: RegExp;
  private readonly captures: { expr: Expression }[];

  constructor(template: string) {
    if (typeof template !== 'string' || template.length === 0 || template.length > MAX_TEMPLATE_LENGTH) {
      throw new TypeError(`URI template must be a non-empty string of at most ${MAX_TEMPLATE_LENGTH} characters`);
    }
    this.template = template;
    this.parts = parse(template);
    this.variableNames = this.parts.flatMap((p) => (typeof p === 'string' ? [] : p.vars.map((v) => v.name)));
    const { regex, captures } = compile(this.parts);
    this.matcher = regex;
    this.captures = captures;
  }

  static isTemplate(value: string): boolean {
    return /\{[^}]+\}/.test(value);
  }

  expand(variables: Record<string, unknown>): string {
    let out = '';
    for (const part of this.parts) {
      out += typeof part === 'string' ? encodeLiteral(part) : expandExpression(part, variables);
    }
    return out;
  }

  /** Returns the variables if `uri` is an expansion of this template, else undefined. */
  match(uri: string): TemplateVariables | undefined {
    if (uri.length > 8192) return undefined;
    const m = this.matcher.exec(uri);
    if (!m) return undefined;
    const result: TemplateVariables = {};
    for (let i = 0; i < this.captures.length; i++) {
      const raw = m[i + 1];
      if (raw === undefined) continue;
      const { expr } = this.captures[i]!;
      if (!readExpression(expr, raw, result)) return undefined;
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
    parts.push({ op, vars });
    i = close + 1;
  }
  return parts;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compile(parts: Part[]): { regex: RegExp; captures: { expr: Expression }[] } {
  let source = '^';
  const captures: { expr: Expression }[] = [];
  for (let idx = 0; idx < parts.length; idx++) {
    const part = parts[idx]!;
    if (typeof part === 'string') {
      source += escapeRegex(part);
      continue;
    }
    const { first } = OPS[part.op];
    // What a simple value may contain: reserved expansions may cross '/', others stop there.
    const body = OPS[part.op].reserved ? '.*?' : part.op === '/' ? '(?:/[^/?#]*)*?' : '[^/?#]*?';
    if (part.op === '/' ) {
      source += `((?:/[^/?#]*)*?)`;
    } else if (part.op === '?' || part.op === '&') {
      source += `(?:${escapeRegex(first)}([^#]*))?`;
    } else if (first) {
      source += `(?:${escapeRegex(first)}(${body}))?`;
    } else {
      source += `(${body})`;
    }
    captures.push({ expr: part });
  }
  source += '$';
  return { regex: new RegExp(source), captures };
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function readExpression(expr: Expression, raw: string, out: TemplateVariables): boolean {
  const { op, vars } = expr;
  if (OPS[op].named) {
    const sep = OPS[op].sep;
    const pairs = raw.split(sep);
    for (const pair of pairs) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = safeDecode(eq < 0 ? '' : pair.slice(eq + 1));
      if (value === undefined) return false;
      const spec = vars.find((v) => v.name === key);
      if (!spec) continue;
      if (spec.explode) {
        const prev = out[key];
        out[key] = prev === undefined ? [value] : Array.isArray(prev) ? [...prev, value] : [prev, value];
      } else {
        out[key] = value.includes(',') ? value.split(',') : value;
      }
    }
    return true;
  }
  let text = raw;
  if (op === '/' && text.startsWith('/')) text = text.slice(1);
  const sep = op === '/' ? '/' : op === '.' ? '.' : ',';
  if (vars.length === 1) {
    const spec = vars[0]!;
    if (spec.explode || (op !== '' && op !== '+' && op !== '#' && text.includes(sep) && op === '/')) {
      const items = text.split(spec.explode ? sep : ',').map(safeDecode);
      if (items.some((x) => x === undefined)) return false;
      out[spec.name] = spec.explode || items.length > 1 ? (items as string[]) : (items[0] as string);
    } else {
      const value = safeDecode(text);
      if (value === undefined) return false;
      if (op === '' && value.length === 0) return false;
      out[spec.name] = value;
    }
    return true;
  }
  const values = text.split(sep);
  for (let i = 0; i < vars.length; i++) {
    const v = values[i];
    if (v === undefined) continue;
    const decoded = safeDecode(v);
    if (decoded === undefined) return false;
    out[vars[i]!.name] = decoded;
  }
  return true;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const RESERVED = /[:/?#[\]@!$&'()*+,;=]/;

function encodeValue(value: string, allowReserved: boolean): string {
  let out = '';
  for (const ch of value) {
    if (UNRESERVED.test(ch) || (allowReserved && RESERVED.test(ch))) out += ch;
    else out += encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  }
  return out;
}

function encodeLiteral(s: string): string {
  return encodeValue(s, true);
}

function expandExpression(expr: Expression, variables: Record<string, unknown>): string {
  const { first, sep, named, ifEmpty, reserved } = OPS[expr.op];
  const pieces: string[] = [];
  for (const spec of expr.vars) {
    const value = variables[spec.name];
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
        pieces.push(entries.map(([k, v]) => `${encodeValue(k, reserved)}=${encodeValue(String(v), reserved)}`).join(sep));
      } else {
        const flat = entries.flatMap(([k, v]) => [encodeValue(k, reserved), encodeValue(String(v), reserved)]).join(',');
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
