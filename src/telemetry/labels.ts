/** The label value every out-of-bounds value folds into. */
export const OTHER = 'other';

/**
 * Request methods of every protocol revision mcpkit speaks (both eras, both directions).
 * Anything else a peer sends is labelled `other`, so a client cannot mint series.
 */
export const MCP_METHODS: readonly string[] = [
  'initialize',
  'ping',
  'server/discover',
  'subscriptions/listen',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
  'sampling/createMessage',
  'elicitation/create',
  'roots/list',
];

/** Anything with `has(name)`: a Set of names, or the server's own Map of registered tools/prompts. */
export interface NameLookup {
  has(name: string): boolean;
}

/**
 * Maps raw values (tool names, templates, error codes) to per-label records built once,
 * so the hot path is one Map lookup. A value gets its own label only while fewer than
 * `max` values have been admitted and, when `known` is given, only if it is currently
 * known (registered); everything else shares the `other` record. Memory is bounded by `max`.
 */
export class LabelBinder<T> {
  private readonly admitted = new Map<string, T>();
  private readonly other: T;

  constructor(
    private readonly make: (label: string) => T,
    private readonly max: number,
    private readonly known?: () => NameLookup,
  ) {
    this.other = make(OTHER);
  }

  get(raw: string | undefined): T {
    // A real value spelled `other` shares the overflow record rather than minting a duplicate series.
    if (raw === undefined || raw === OTHER) return this.other;
    const hit = this.admitted.get(raw);
    if (hit !== undefined) return hit;
    if (this.admitted.size >= this.max) return this.other;
    // Unknown names are not cached: a tool registered later must still get its own label.
    if (this.known !== undefined && !this.known().has(raw)) return this.other;
    const record = this.make(raw);
    this.admitted.set(raw, record);
    return record;
  }

  /** Distinct values that have their own label (excluding `other`). */
  get size(): number {
    return this.admitted.size;
  }
}
