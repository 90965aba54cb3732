import { Ajv2020 } from 'ajv/dist/2020.js';
import { InvalidOptionError } from '../protocol/errors.js';

/** The Standard Schema v1 interface (zod >= 3.24, valibot, arktype). Declared here so mcpkit never imports a schema library. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
      options?: never,
    ) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}
/** The Standard JSON Schema extension (zod >= 4.2): lets a schema describe itself as JSON Schema. */
interface StandardJsonSchemaConverter {
  readonly input: (options: { target: string }) => Record<string, unknown>;
  readonly output: (options: { target: string }) => Record<string, unknown>;
}
type StandardIssue = {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
};
type StandardResult<T> =
  | { readonly value: T; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> };

export type JsonSchema = Record<string, unknown>;
export type SchemaInput = StandardSchemaV1 | JsonSchema;

/** Infers a handler's argument type from a Standard Schema; JSON Schema gives `Record<string, unknown>`. */
export type InferInput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : Record<string, unknown>;

export type Validation = { ok: true; value: unknown } | { ok: false; message: string };

export interface CompiledSchema {
  readonly jsonSchema: JsonSchema;
  /** Sync for JSON Schema and sync Standard Schemas; a Promise only when the schema library is async. */
  validate(value: unknown): Validation | Promise<Validation>;
}

// One Ajv for the process: compiling is the expensive part and is done once per registration.
let ajv: Ajv2020 | undefined;
function getAjv(): Ajv2020 {
  ajv ??= new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
  return ajv;
}

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  return typeof value === 'object' && value !== null && '~standard' in value;
}

function formatIssues(issues: ReadonlyArray<StandardIssue>): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path?.map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

function fromStandardResult(result: StandardResult<unknown>): Validation {
  return result.issues
    ? { ok: false, message: formatIssues(result.issues) }
    : { ok: true, value: result.value };
}

/**
 * Turns a user schema into the JSON Schema advertised on the wire plus a validator.
 * Standard Schemas must implement Standard JSON Schema (zod >= 4.2 does), so mcpkit never
 * imports a schema library itself.
 */
export function compileSchema(
  schema: SchemaInput,
  direction: 'input' | 'output',
  option: string,
): CompiledSchema {
  if (isStandardSchema(schema)) {
    const std = schema['~standard'];
    const converter = (std as { jsonSchema?: StandardJsonSchemaConverter }).jsonSchema;
    if (!converter) {
      throw new InvalidOptionError(
        option,
        `the ${std.vendor} schema cannot describe itself as JSON Schema (Standard JSON Schema); upgrade the library (zod >= 4.2) or pass a JSON Schema object`,
      );
    }
    const jsonSchema = { ...converter[direction]({ target: 'draft-2020-12' }) };
    if (jsonSchema.type !== 'object') {
      throw new InvalidOptionError(
        option,
        `must describe an object (got JSON Schema type ${JSON.stringify(jsonSchema.type)})`,
      );
    }
    return {
      jsonSchema,
      validate(value) {
        const result = std.validate(value);
        return result instanceof Promise ? result.then(fromStandardResult) : fromStandardResult(result);
      },
    };
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new InvalidOptionError(option, 'must be a JSON Schema object or a Standard Schema');
  }
  if (schema.type !== 'object')
    throw new InvalidOptionError(option, 'must be a JSON Schema with type "object"');
  let check: ReturnType<Ajv2020['compile']>;
  try {
    check = getAjv().compile(schema);
  } catch (err) {
    throw new InvalidOptionError(option, `is not a valid JSON Schema: ${(err as Error).message}`);
  }
  return {
    jsonSchema: schema,
    validate(value) {
      if (check(value)) return { ok: true, value };
      const errors = check.errors ?? [];
      return {
        ok: false,
        message: errors.map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`).join('; '),
      };
    },
  };
}

export const EMPTY_OBJECT_SCHEMA: JsonSchema = Object.freeze({
  type: 'object',
  properties: {},
}) as JsonSchema;
