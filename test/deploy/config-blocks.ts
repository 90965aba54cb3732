// A small nginx-config reader for structural assertions (which directives sit in which block).
// nginx itself (`nginx -t`) is the syntax authority; this only answers "where is what".

export interface NginxBlock {
  /** Directive name and arguments of the block, e.g. ['location', '=', '/mcp']. */
  readonly head: readonly string[];
  readonly directives: readonly (readonly string[])[];
  readonly blocks: readonly NginxBlock[];
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '{' || c === '}' || c === ';') {
      tokens.push(c);
      i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\') j++;
        value += text[j] ?? '';
        j++;
      }
      tokens.push(value);
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s{};]/.test(text[j]!)) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

export function parseNginx(text: string): NginxBlock {
  const tokens = tokenize(text);
  let pos = 0;
  const readBlock = (head: string[]): NginxBlock => {
    const directives: string[][] = [];
    const blocks: NginxBlock[] = [];
    let current: string[] = [];
    while (pos < tokens.length) {
      const token = tokens[pos++]!;
      if (token === ';') {
        directives.push(current);
        current = [];
      } else if (token === '{') {
        blocks.push(readBlock(current));
        current = [];
      } else if (token === '}') {
        if (current.length > 0) throw new Error(`unterminated directive ${current.join(' ')}`);
        return { head, directives, blocks };
      } else {
        current.push(token);
      }
    }
    if (head.length > 0) throw new Error(`unclosed block ${head.join(' ')}`);
    return { head, directives, blocks };
  };
  return readBlock([]);
}

/** Depth-first search for blocks whose head starts with the given words. */
export function findBlocks(root: NginxBlock, ...head: string[]): NginxBlock[] {
  const found: NginxBlock[] = [];
  const visit = (block: NginxBlock) => {
    if (head.every((word, i) => block.head[i] === word)) found.push(block);
    block.blocks.forEach(visit);
  };
  visit(root);
  return found;
}

/** The arguments of each occurrence of `name` directly in `block`. */
export function directiveArgs(block: NginxBlock, name: string): string[][] {
  return block.directives.filter((d) => d[0] === name).map((d) => d.slice(1));
}

/** HAProxy sections (global, defaults, frontend x, backend y, ...) with their trimmed lines. */
export function parseHaproxySections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trimEnd();
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (!/^\s/.test(line)) {
      current = [];
      sections.set(line.trim(), current);
    } else {
      if (!current) throw new Error(`line outside a section: ${line}`);
      current.push(line.trim().replace(/\s+/g, ' '));
    }
  }
  return sections;
}
