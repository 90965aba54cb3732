import { InvalidOptionError, InvalidParamsError } from '../protocol/errors.js';
import { HEADER_TOKEN_RE } from '../protocol/meta.js';
import type {
  Annotations,
  CallToolResult,
  ContentBlock,
  GetPromptResult,
  Icon,
  Meta,
  PromptArgument,
  PromptMessage,
  ReadResourceResult,
  ResourceContents,
  ToolAnnotations,
} from '../protocol/types.js';
import { UriTemplate } from '../protocol/uri-template.js';
import type { Call } from './context.js';
import {
  type CompiledSchema,
  EMPTY_OBJECT_SCHEMA,
  type InferInput,
  type SchemaInput,
  compileSchema,
  isStandardSchema,
} from './schema.js';

/** What a handler receives as its second argument: the request context plus the helpers on `Call`. */
export type HandlerContext = Call;

export type ToolReturn =
  | CallToolResult
  | string
  | ContentBlock[]
  | { structuredContent: unknown; content?: ContentBlock[] };

export interface ToolConfig<S extends SchemaInput | undefined = undefined> {
  title?: string;
  description?: string;
  inputSchema?: S;
  outputSchema?: SchemaInput;
  annotations?: ToolAnnotations;
  icons?: Icon[];
  /** Task support (tasks extension): 'forbidden' (default), 'optional', 'required'. */
  taskSupport?: 'forbidden' | 'optional' | 'required';
  /** The handler decides when the task starts by calling `ctx.runTask()` (after gathering input). */
  deferTask?: boolean;
  /** OAuth scopes the caller must hold (checked when the request is authenticated). */
  scopes?: readonly string[];
  _meta?: Meta;
}

export type ToolHandler<S> = (
  args: S extends SchemaInput ? InferInput<S> : Record<string, unknown>,
  ctx: HandlerContext,
) => ToolReturn | Promise<ToolReturn>;

export interface RegisteredTool {
  readonly name: string;
  readonly wire: Record<string, unknown>;
  readonly input: CompiledSchema | undefined;
  readonly output: CompiledSchema | undefined;
  readonly handler: (args: Record<string, unknown>, ctx: HandlerContext) => ToolReturn | Promise<ToolReturn>;
  readonly scopes: readonly string[] | undefined;
  readonly taskSupport: 'forbidden' | 'optional' | 'required';
  readonly deferTask: boolean;
  /** `x-mcp-header` mirrors: argument name -> header suffix (`Mcp-Param-<suffix>`). */
  readonly headerParams: ReadonlyArray<{ argument: string; header: string }>;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,128}$/;

export function buildTool(
  name: string,
  config: ToolConfig<SchemaInput | undefined>,
  handler: RegisteredTool['handler'],
): RegisteredTool {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new InvalidOptionError(
      'tool name',
      `"${String(name)}" must be 1-128 characters of A-Z a-z 0-9 _ - .`,
    );
  }
  if (typeof handler !== 'function')
    throw new InvalidOptionError(`tool ${name} handler`, 'must be a function');
  const input =
    config.inputSchema === undefined
      ? undefined
      : compileSchema(config.inputSchema, 'input', `tool ${name} inputSchema`);
  const output =
    config.outputSchema === undefined
      ? undefined
      : compileSchema(config.outputSchema, 'output', `tool ${name} outputSchema`);
  const wire: Record<string, unknown> = { name, inputSchema: input?.jsonSchema ?? EMPTY_OBJECT_SCHEMA };
  if (config.title !== undefined) wire.title = config.title;
  if (config.description !== undefined) wire.description = config.description;
  if (output) wire.outputSchema = output.jsonSchema;
  if (config.annotations !== undefined) wire.annotations = config.annotations;
  if (config.icons !== undefined) wire.icons = config.icons;
  if (config.taskSupport !== undefined && config.taskSupport !== 'forbidden')
    wire.execution = { taskSupport: config.taskSupport };
  if (config._meta !== undefined) wire._meta = config._meta;
  const headerParams: { argument: string; header: string }[] = [];
  const props = (input?.jsonSchema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const seen = new Set<string>();
  for (const [argument, schema] of Object.entries(props)) {
    const header = schema?.['x-mcp-header'];
    if (header === undefined) continue;
    const option = `tool ${name} inputSchema.properties.${argument}["x-mcp-header"]`;
    if (typeof header !== 'string' || !HEADER_TOKEN_RE.test(header))
      throw new InvalidOptionError(option, 'must be a non-empty HTTP token');
    if (!['string', 'integer', 'boolean'].includes(schema.type as string)) {
      throw new InvalidOptionError(option, 'may only annotate string, integer or boolean properties');
    }
    if (seen.has(header.toLowerCase())) throw new InvalidOptionError(option, `duplicates header ${header}`);
    seen.add(header.toLowerCase());
    headerParams.push({ argument, header });
  }
  return {
    name,
    wire,
    input,
    output,
    handler,
    scopes: config.scopes,
    taskSupport: config.taskSupport ?? 'forbidden',
    deferTask: config.deferTask ?? false,
    headerParams,
  };
}

/** Normalises what a tool handler returned into a CallToolResult, checking structured output. */
export async function toToolResult(tool: RegisteredTool, value: ToolReturn): Promise<CallToolResult> {
  let result: CallToolResult;
  if (typeof value === 'string') result = { content: [{ type: 'text', text: value }] };
  else if (Array.isArray(value)) result = { content: value };
  else if (!('content' in value) || value.content === undefined) {
    const structured = (value as { structuredContent: unknown }).structuredContent;
    result = { ...value, content: [{ type: 'text', text: JSON.stringify(structured) }] } as CallToolResult;
  } else result = value as CallToolResult;
  if (tool.output && !result.isError) {
    if (result.structuredContent === undefined) {
      return errorResult(`Tool ${tool.name} declared an outputSchema but returned no structuredContent`);
    }
    const checked = await tool.output.validate(result.structuredContent);
    if (!checked.ok)
      return errorResult(
        `Tool ${tool.name} returned structuredContent that does not match its outputSchema: ${checked.message}`,
      );
  }
  return result;
}

export function errorResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

// ---------------------------------------------------------------- resources

export type ResourceReturn = ReadResourceResult | ResourceContents[] | string;

export interface ResourceConfig {
  name?: string;
  title?: string;
  description?: string;
  mimeType?: string;
  size?: number;
  annotations?: Annotations;
  icons?: Icon[];
  scopes?: readonly string[];
  _meta?: Meta;
}

export interface RegisteredResource {
  readonly uri: string;
  readonly wire: Record<string, unknown>;
  readonly mimeType: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly read: (uri: string, ctx: HandlerContext) => ResourceReturn | Promise<ResourceReturn>;
}

export type TemplateCompleter = (
  value: string,
  context: Record<string, string>,
  ctx: HandlerContext,
) => string[] | Promise<string[]>;

export interface RegisteredTemplate {
  readonly template: UriTemplate;
  readonly wire: Record<string, unknown>;
  readonly mimeType: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly complete: Record<string, TemplateCompleter> | undefined;
  /** Lists concrete resources of this template for resources/list, if the user supplies it. */
  readonly list:
    | ((ctx: HandlerContext) => Array<Record<string, unknown>> | Promise<Array<Record<string, unknown>>>)
    | undefined;
  readonly read: (
    uri: string,
    variables: Record<string, string | string[]>,
    ctx: HandlerContext,
  ) => ResourceReturn | Promise<ResourceReturn>;
}

function describe(wire: Record<string, unknown>, config: ResourceConfig): void {
  if (config.title !== undefined) wire.title = config.title;
  if (config.description !== undefined) wire.description = config.description;
  if (config.mimeType !== undefined) wire.mimeType = config.mimeType;
  if (config.annotations !== undefined) wire.annotations = config.annotations;
  if (config.icons !== undefined) wire.icons = config.icons;
  if (config._meta !== undefined) wire._meta = config._meta;
}

export function buildResource(
  uri: string,
  config: ResourceConfig,
  read: RegisteredResource['read'],
): RegisteredResource {
  if (
    typeof uri !== 'string' ||
    uri.length === 0 ||
    uri.length > 2048 ||
    !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)
  ) {
    throw new InvalidOptionError(
      'resource uri',
      `"${String(uri)}" must be an absolute URI of at most 2048 characters`,
    );
  }
  if (typeof read !== 'function')
    throw new InvalidOptionError(`resource ${uri} handler`, 'must be a function');
  const wire: Record<string, unknown> = { uri, name: config.name ?? uri };
  describe(wire, config);
  if (config.size !== undefined) wire.size = config.size;
  return { uri, wire, mimeType: config.mimeType, scopes: config.scopes, read };
}

export interface TemplateConfig extends ResourceConfig {
  complete?: Record<string, TemplateCompleter>;
  list?: RegisteredTemplate['list'];
}

export function buildTemplate(
  uriTemplate: string,
  config: TemplateConfig,
  read: RegisteredTemplate['read'],
): RegisteredTemplate {
  let template: UriTemplate;
  try {
    template = new UriTemplate(uriTemplate);
  } catch (err) {
    throw new InvalidOptionError('resource template', (err as Error).message);
  }
  if (typeof read !== 'function')
    throw new InvalidOptionError(`resource template ${uriTemplate} handler`, 'must be a function');
  const wire: Record<string, unknown> = { uriTemplate, name: config.name ?? uriTemplate };
  describe(wire, config);
  return {
    template,
    wire,
    mimeType: config.mimeType,
    scopes: config.scopes,
    complete: config.complete,
    list: config.list,
    read,
  };
}

export function toReadResult(
  uri: string,
  mimeType: string | undefined,
  value: ResourceReturn,
): ReadResourceResult {
  if (typeof value === 'string') {
    const text: ResourceContents =
      mimeType === undefined ? { uri, text: value } : { uri, mimeType, text: value };
    return { contents: [text] };
  }
  if (Array.isArray(value)) return { contents: value };
  return value;
}

// ---------------------------------------------------------------- prompts

export type PromptReturn = GetPromptResult | PromptMessage[] | string;

export interface PromptConfig<S extends SchemaInput | undefined = undefined> {
  title?: string;
  description?: string;
  /** Either a schema for the arguments (all string-valued on the wire) or explicit argument descriptors. */
  argsSchema?: S;
  arguments?: PromptArgument[];
  complete?: Record<string, TemplateCompleter>;
  icons?: Icon[];
  scopes?: readonly string[];
  _meta?: Meta;
}

export interface RegisteredPrompt {
  readonly name: string;
  readonly wire: Record<string, unknown>;
  readonly args: CompiledSchema | undefined;
  readonly required: readonly string[];
  readonly complete: Record<string, TemplateCompleter> | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly get: (args: Record<string, unknown>, ctx: HandlerContext) => PromptReturn | Promise<PromptReturn>;
}

export type PromptHandler<S> = (
  args: S extends SchemaInput ? InferInput<S> : Record<string, string>,
  ctx: HandlerContext,
) => PromptReturn | Promise<PromptReturn>;

export function buildPrompt(
  name: string,
  config: PromptConfig<SchemaInput | undefined>,
  get: RegisteredPrompt['get'],
): RegisteredPrompt {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new InvalidOptionError(
      'prompt name',
      `"${String(name)}" must be 1-128 characters of A-Z a-z 0-9 _ - .`,
    );
  }
  if (typeof get !== 'function') throw new InvalidOptionError(`prompt ${name} handler`, 'must be a function');
  const args =
    config.argsSchema === undefined
      ? undefined
      : compileSchema(config.argsSchema, 'input', `prompt ${name} argsSchema`);
  let descriptors = config.arguments;
  if (!descriptors && args) {
    const props = (args.jsonSchema.properties ?? {}) as Record<string, { description?: string }>;
    const required = new Set((args.jsonSchema.required as string[] | undefined) ?? []);
    descriptors = Object.entries(props).map(([argName, schema]) => {
      const d: PromptArgument = { name: argName, required: required.has(argName) };
      if (schema.description !== undefined) d.description = schema.description;
      return d;
    });
  }
  const wire: Record<string, unknown> = { name };
  if (config.title !== undefined) wire.title = config.title;
  if (config.description !== undefined) wire.description = config.description;
  if (descriptors) wire.arguments = descriptors;
  if (config.icons !== undefined) wire.icons = config.icons;
  if (config._meta !== undefined) wire._meta = config._meta;
  if (isStandardSchema(config.argsSchema) && !args)
    throw new InvalidOptionError(`prompt ${name} argsSchema`, 'could not compile');
  return {
    name,
    wire,
    args,
    required: (descriptors ?? []).filter((d) => d.required).map((d) => d.name),
    complete: config.complete,
    scopes: config.scopes,
    get,
  };
}

export function toPromptResult(value: PromptReturn, description: string | undefined): GetPromptResult {
  let result: GetPromptResult;
  if (typeof value === 'string')
    result = { messages: [{ role: 'user', content: { type: 'text', text: value } }] };
  else if (Array.isArray(value)) result = { messages: value };
  else return value;
  if (description !== undefined) result.description = description;
  return result;
}

export function checkPromptArgs(prompt: RegisteredPrompt, args: unknown): Record<string, unknown> {
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    throw new InvalidParamsError('Prompt arguments must be an object');
  }
  const values = (args ?? {}) as Record<string, unknown>;
  for (const name of prompt.required) {
    if (values[name] === undefined)
      throw new InvalidParamsError(`Missing required argument "${name}" for prompt ${prompt.name}`);
  }
  return values;
}
