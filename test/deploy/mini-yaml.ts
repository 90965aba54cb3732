// A small YAML reader for the deploy/ files (no YAML package is a project dependency). It covers the
// block style those files use: mappings, sequences, quoted and plain scalars, one-line flow
// collections, literal / folded block scalars, comments and `---` documents. Anything else (anchors,
// aliases, tags, multi-line plain or flow scalars) is rejected with the line number, never guessed at.

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };
export type YamlMap = { [key: string]: YamlValue };

class YamlError extends Error {
  constructor(message: string, line: number) {
    super(`${message} (line ${line + 1})`);
  }
}

/** Removes a trailing comment, respecting quotes that open a scalar or a flow item. */
function stripComment(text: string): string {
  let quote: string | null = null;
  let previous = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) {
        if (quote === "'" && text[i + 1] === "'") i++;
        else quote = null;
      }
    } else if ((c === '"' || c === "'") && /^$|[:\-[{,\s]/.test(previous)) {
      const before = text.slice(0, i).trimEnd();
      if (before === '' || /[:\-[{,]$/.test(before)) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(previous))) {
      return text.slice(0, i).trimEnd();
    }
    previous = c;
  }
  return text.trimEnd();
}

const KEY =
  /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"[\]{},#&*!|>%@`-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s+|$)(.*)$/;

function unquote(text: string, line: number): string {
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2)
      throw new YamlError('unterminated single-quoted scalar', line);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (!text.endsWith('"') || text.length < 2) throw new YamlError('unterminated double-quoted scalar', line);
  return JSON.parse(text.replace(/\\\//g, '/')) as string;
}

function plainScalar(text: string, line: number): YamlValue {
  if (/^[&*!]/.test(text)) throw new YamlError(`anchors, aliases and tags are not supported: ${text}`, line);
  if (text === '' || text === '~' || text === 'null' || text === 'Null' || text === 'NULL') return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?\d+$/.test(text)) return Number.parseInt(text, 10);
  if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number.parseFloat(text);
  return text;
}

/** One-line flow collection or scalar. */
function inlineValue(text: string, line: number): YamlValue {
  const value = text.trim();
  if (value.startsWith('[') || value.startsWith('{')) {
    const [parsed, rest] = flow(value, 0, line);
    if (value.slice(rest).trim() !== '')
      throw new YamlError(`unexpected text after flow collection: ${value}`, line);
    return parsed;
  }
  if (value.startsWith('"') || value.startsWith("'")) return unquote(value, line);
  return plainScalar(value, line);
}

function flow(text: string, start: number, line: number): [YamlValue, number] {
  let i = start;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const scalarEnd = (stops: string) => {
    skip();
    const c = text[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length) {
        if (text[j] === '\\' && c === '"') j += 2;
        else if (text[j] === c && c === "'" && text[j + 1] === "'") j += 2;
        else if (text[j] === c) break;
        else j++;
      }
      const value = unquote(text.slice(i, j + 1), line);
      i = j + 1;
      return value as YamlValue;
    }
    if (c === '[' || c === '{') {
      const [value, next] = flow(text, i, line);
      i = next;
      return value;
    }
    let j = i;
    while (j < text.length && !stops.includes(text[j]!)) j++;
    const value = plainScalar(text.slice(i, j).trim(), line);
    i = j;
    return value;
  };
  if (text[i] === '[') {
    i++;
    const items: YamlValue[] = [];
    skip();
    if (text[i] === ']') return [items, i + 1];
    for (;;) {
      items.push(scalarEnd(',]'));
      skip();
      if (text[i] === ',') i++;
      else if (text[i] === ']') return [items, i + 1];
      else throw new YamlError(`unterminated flow sequence: ${text}`, line);
    }
  }
  i++;
  const map: YamlMap = {};
  skip();
  if (text[i] === '}') return [map, i + 1];
  for (;;) {
    skip();
    let j = i;
    while (j < text.length && text[j] !== ':' && text[j] !== '}') j++;
    const key = text.slice(i, j).trim();
    if (text[j] !== ':') throw new YamlError(`flow mapping entry without a value: ${text}`, line);
    i = j + 1;
    map[key.startsWith('"') || key.startsWith("'") ? unquote(key, line) : key] = scalarEnd(',}');
    skip();
    if (text[i] === ',') i++;
    else if (text[i] === '}') return [map, i + 1];
    else throw new YamlError(`unterminated flow mapping: ${text}`, line);
  }
}

class Parser {
  private pos = 0;
  constructor(private readonly lines: string[]) {}

  private indentOf(line: string, index: number): number {
    const match = /^( *)(\t?)/.exec(line)!;
    if (match[2]) throw new YamlError('tab in indentation', index);
    return match[1]!.length;
  }

  /** Index of the next line with content (not blank, not only a comment), or -1. */
  private peek(): number {
    for (let i = this.pos; i < this.lines.length; i++) {
      const line = this.lines[i]!;
      if (stripComment(line).trim() !== '') return i;
    }
    return -1;
  }

  atDocumentEnd(): boolean {
    const i = this.peek();
    return i === -1 || this.lines[i] === '---';
  }

  node(minIndent: number): YamlValue {
    const i = this.peek();
    if (i === -1 || this.lines[i] === '---') return null;
    const line = this.lines[i]!;
    const indent = this.indentOf(line, i);
    if (indent < minIndent) return null;
    const content = stripComment(line).slice(indent);
    if (content === '-' || content.startsWith('- ')) return this.sequence(indent);
    if (KEY.test(content)) return this.mapping(indent);
    this.pos = i + 1;
    const next = this.peek();
    if (next !== -1 && this.lines[next] !== '---' && this.indentOf(this.lines[next]!, next) > indent) {
      throw new YamlError('multi-line plain scalars are not supported', next);
    }
    return inlineValue(content, i);
  }

  private value(rest: string, parentIndent: number, index: number): YamlValue {
    const text = rest.trim();
    if (/^[|>][-+]?$/.test(text)) return this.blockScalar(text, parentIndent);
    if (text === '') {
      const next = this.peek();
      if (next === -1) return null;
      const nextIndent = this.indentOf(this.lines[next]!, next);
      const nextContent = stripComment(this.lines[next]!).slice(nextIndent);
      // A sequence may sit at the same indentation as its key.
      if (nextIndent === parentIndent && (nextContent === '-' || nextContent.startsWith('- '))) {
        return this.sequence(parentIndent);
      }
      return nextIndent > parentIndent ? this.node(parentIndent + 1) : null;
    }
    return inlineValue(text, index);
  }

  private mapping(indent: number): YamlMap {
    const map: YamlMap = {};
    for (;;) {
      const i = this.peek();
      if (i === -1 || this.lines[i] === '---') return map;
      const line = this.lines[i]!;
      const lineIndent = this.indentOf(line, i);
      if (lineIndent < indent) return map;
      if (lineIndent > indent) throw new YamlError('unexpected indentation', i);
      const content = stripComment(line).slice(indent);
      if (content === '-' || content.startsWith('- ')) return map;
      const match = KEY.exec(content);
      if (!match) throw new YamlError(`expected "key: value", got: ${content}`, i);
      const rawKey = match[1]!.trim();
      const key = rawKey.startsWith('"') || rawKey.startsWith("'") ? unquote(rawKey, i) : rawKey;
      if (Object.hasOwn(map, key)) throw new YamlError(`duplicate key ${key}`, i);
      this.pos = i + 1;
      map[key] = this.value(match[2] ?? '', indent, i);
    }
  }

  private sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (;;) {
      const i = this.peek();
      if (i === -1 || this.lines[i] === '---') return items;
      const line = this.lines[i]!;
      const lineIndent = this.indentOf(line, i);
      if (lineIndent < indent) return items;
      const content = stripComment(line).slice(indent);
      if (lineIndent > indent || !(content === '-' || content.startsWith('- '))) return items;
      const after = content.slice(1);
      const gap = after.length - after.trimStart().length;
      const itemText = after.trimStart();
      if (itemText === '') {
        this.pos = i + 1;
        items.push(this.node(indent + 1));
      } else if (KEY.test(itemText) || itemText === '-' || itemText.startsWith('- ')) {
        // "- key: value": the item is a mapping (or sequence) whose first line starts after the dash.
        this.lines[i] = ' '.repeat(indent + 1 + gap) + line.slice(indent + 1 + gap);
        items.push(this.node(indent + 1 + gap));
      } else {
        this.pos = i + 1;
        items.push(this.value(itemText, indent, i));
      }
    }
  }

  private blockScalar(header: string, parentIndent: number): string {
    const start = this.pos;
    let blockIndent = -1;
    const content: string[] = [];
    let i = start;
    for (; i < this.lines.length; i++) {
      const line = this.lines[i]!;
      if (line.trim() === '') {
        content.push('');
        continue;
      }
      const lineIndent = this.indentOf(line, i);
      if (blockIndent === -1) {
        if (lineIndent <= parentIndent) break;
        blockIndent = lineIndent;
      }
      if (lineIndent < blockIndent) break;
      content.push(line.slice(blockIndent));
    }
    // Trailing blank lines belong to the scalar only for "keep" chomping; they are left to the caller.
    let end = content.length;
    while (end > 0 && content[end - 1] === '') end--;
    this.pos = start + end;
    const body = content.slice(0, end);
    let text: string;
    if (header.startsWith('|')) {
      text = body.join('\n');
    } else {
      text = '';
      for (const [n, line] of body.entries()) {
        // A blank line is a line break; otherwise lines fold into one with a space.
        if (n === 0) text = line;
        else if (line === '') text += '\n';
        else if (body[n - 1] === '') text += line;
        else text += ` ${line}`;
      }
    }
    if (header.endsWith('-')) return text;
    if (header.endsWith('+')) return `${text}\n${'\n'.repeat(content.length - end)}`;
    return body.length > 0 ? `${text}\n` : '';
  }

  skipSeparator(): boolean {
    const i = this.peek();
    if (i !== -1 && this.lines[i] === '---') {
      this.pos = i + 1;
      return true;
    }
    return false;
  }

  rest(): number {
    return this.peek();
  }
}

/** Every document of a YAML stream (empty documents are dropped). */
export function parseYamlDocuments(text: string): YamlValue[] {
  const parser = new Parser(text.replace(/\r\n/g, '\n').split('\n'));
  const docs: YamlValue[] = [];
  parser.skipSeparator();
  for (;;) {
    const doc = parser.node(0);
    if (!parser.atDocumentEnd()) throw new YamlError('unexpected content after the document', parser.rest());
    if (doc !== null) docs.push(doc);
    if (!parser.skipSeparator()) break;
  }
  return docs;
}

export function parseYaml(text: string): YamlValue {
  const docs = parseYamlDocuments(text);
  if (docs.length !== 1) throw new Error(`expected one YAML document, found ${docs.length}`);
  return docs[0]!;
}

export function isMap(value: YamlValue | undefined): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows a path of keys / indexes; undefined when any step is missing. */
export function at(value: YamlValue | undefined, ...path: (string | number)[]): YamlValue | undefined {
  let current: YamlValue | undefined = value;
  for (const step of path) {
    if (typeof step === 'number') current = Array.isArray(current) ? current[step] : undefined;
    else current = isMap(current) ? current[step] : undefined;
    if (current === undefined) return undefined;
  }
  return current;
}
