import { z } from 'zod';
import { ErrorCode, McpError, MissingClientCapabilityError } from '../../src/protocol/errors.js';
import type { ElicitParams } from '../../src/protocol/types.js';
import type { HandlerContext } from '../../src/server/registry.js';
import { McpServer, type McpServerOptions } from '../../src/server/server.js';

/** 1x1 PNG and a tiny WAV: the conformance suite only checks that they are valid base64 with the right MIME type. */
export const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
export const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

const elicitForm = (message: string, properties: Record<string, unknown>, required: string[] = []) =>
  ({ message, requestedSchema: { type: 'object', properties, required } }) as unknown as ElicitParams;

const textOf = (result: { content?: unknown }) => {
  const content = result.content as { type?: string; text?: string } | undefined;
  return content?.type === 'text' ? (content.text ?? '') : JSON.stringify(content);
};

/**
 * The "everything" server: every fixture the official conformance suite drives, in both
 * protocol eras, plus a few realistic tools. It doubles as the reference example of the API.
 */
export function createEverythingServer(options: Partial<McpServerOptions> = {}): McpServer {
  const server = new McpServer({
    name: 'mcpkit-everything',
    version: '0.1.0',
    title: 'mcpkit everything server',
    instructions:
      'A test server exposing every MCP feature: tools, resources, templates, prompts, completions.',
    tasks: true,
    ...options,
  });

  // ----------------------------------------------------------------- content tools (test_simple_text first: the suite calls tools[0])
  server.tool(
    'test_simple_text',
    { description: 'Returns a simple text response' },
    () => 'This is a simple text response for testing.',
  );
  server.tool('test_image_content', { description: 'Returns an image' }, () => [
    { type: 'image', data: PNG, mimeType: 'image/png' },
  ]);
  server.tool('test_audio_content', { description: 'Returns audio' }, () => [
    { type: 'audio', data: WAV, mimeType: 'audio/wav' },
  ]);
  server.tool('test_embedded_resource', { description: 'Returns an embedded resource' }, () => [
    {
      type: 'resource',
      resource: {
        uri: 'test://embedded-resource',
        mimeType: 'text/plain',
        text: 'This is an embedded resource content.',
      },
    },
  ]);
  server.tool(
    'test_multiple_content_types',
    { description: 'Returns text, image and resource content' },
    () => [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      {
        type: 'resource',
        resource: {
          uri: 'test://mixed-content-resource',
          mimeType: 'application/json',
          text: '{"test":"data","value":123}',
        },
      },
    ],
  );
  server.tool('test_error_handling', { description: 'Always fails with a tool error' }, () => ({
    isError: true,
    content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
  }));
  server.tool(
    'test_tool_with_logging',
    { description: 'Logs three messages while running' },
    async (_args, ctx) => {
      await ctx.log('info', 'Tool execution started');
      await sleep(50, ctx.signal);
      await ctx.log('info', 'Tool processing data');
      await sleep(50, ctx.signal);
      await ctx.log('info', 'Tool execution completed');
      return 'Tool with logging executed successfully';
    },
  );
  server.tool(
    'test_tool_with_progress',
    { description: 'Reports progress 0, 50, 100' },
    async (_args, ctx) => {
      for (const step of [0, 50, 100]) {
        await ctx.progress(step, 100, `Step ${step}`);
        if (step < 100) await sleep(50, ctx.signal);
      }
      return String(ctx.progressToken ?? 'no progress token');
    },
  );
  server.tool(
    'test_sampling',
    {
      description: 'Asks the client LLM to answer a prompt',
      inputSchema: z.object({ prompt: z.string().describe('The prompt to send') }),
    },
    async ({ prompt }, ctx) => {
      const result = await ctx.sample({
        messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
        maxTokens: 100,
      });
      return `LLM response: ${textOf(result as { content?: unknown })}`;
    },
  );
  server.tool(
    'test_elicitation',
    {
      description: 'Asks the user for information',
      inputSchema: z.object({ message: z.string().describe('What to ask') }),
    },
    async ({ message }, ctx) => {
      const result = await ctx.elicit(
        elicitForm(
          message,
          {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          ['username', 'email'],
        ),
      );
      return `User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`;
    },
  );
  server.tool(
    'test_elicitation_sep1034_defaults',
    { description: 'Elicitation with default values' },
    async (_args, ctx) => {
      const result = await ctx.elicit(
        elicitForm('Please review and update the form fields with defaults', {
          name: { type: 'string', description: 'User name', default: 'John Doe' },
          age: { type: 'integer', description: 'User age', default: 30 },
          score: { type: 'number', description: 'User score', default: 95.5 },
          status: {
            type: 'string',
            description: 'User status',
            enum: ['active', 'inactive', 'pending'],
            default: 'active',
          },
          verified: { type: 'boolean', description: 'Verification status', default: true },
        }),
      );
      return `Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`;
    },
  );
  server.tool(
    'test_elicitation_sep1330_enums',
    { description: 'Elicitation with every enum form' },
    async (_args, ctx) => {
      const options = (prefix: string, titles: string[]) =>
        titles.map((title, i) => ({ const: `${prefix}${i + 1}`, title }));
      const result = await ctx.elicit(
        elicitForm('Please choose options', {
          untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
          titledSingle: {
            type: 'string',
            oneOf: options('value', ['First Option', 'Second Option', 'Third Option']),
          },
          legacyEnum: {
            type: 'string',
            enum: ['opt1', 'opt2', 'opt3'],
            enumNames: ['Option One', 'Option Two', 'Option Three'],
          },
          untitledMulti: {
            type: 'array',
            items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
          },
          titledMulti: {
            type: 'array',
            items: { anyOf: options('value', ['First Choice', 'Second Choice', 'Third Choice']) },
          },
        }),
      );
      return `Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`;
    },
  );
  server.tool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features',
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: {
          address: {
            $anchor: 'addressDef',
            type: 'object',
            properties: { street: { type: 'string' }, city: { type: 'string' } },
          },
        },
        properties: {
          name: { type: 'string' },
          address: { $ref: '#/$defs/address' },
          contactMethod: { type: 'string', enum: ['phone', 'email'] },
          phone: { type: 'string' },
          email: { type: 'string' },
        },
        allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
        if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keyword, required verbatim.
        then: { required: ['phone'] },
        else: { required: ['email'] },
        additionalProperties: false,
      },
    },
    (args) => `Received: ${JSON.stringify(args)}`,
  );
  server.tool(
    'test_reconnection',
    { description: 'Closes its SSE stream mid-call; the result arrives on reconnect' },
    async (_args, ctx) => {
      ctx.closeSseStream();
      await sleep(200, ctx.signal);
      return 'Reconnection test completed successfully';
    },
  );

  // ----------------------------------------------------------------- 2026-07-28 diagnostics
  server.tool(
    'test_missing_capability',
    { description: 'Requires the client sampling capability' },
    (_args, ctx) => {
      if (!ctx.hasClientCapability('sampling')) throw new MissingClientCapabilityError({ sampling: {} });
      return 'Client declared sampling capability; proceeding.';
    },
  );
  server.tool(
    'test_streaming_elicitation',
    { description: 'Needs an elicitation answer before it completes' },
    async (_args, ctx) => {
      const result = await ctx.elicit(
        elicitForm('Please confirm to continue', { ok: { type: 'boolean' } }, ['ok']),
      );
      return `Elicitation answered: ${result.action}`;
    },
  );
  server.tool(
    'test_logging_tool',
    { description: 'Logs one message (only when the request asks for logs)' },
    async (_args, ctx) => {
      await ctx.log('info', 'test_logging_tool ran');
      return 'test_logging_tool done';
    },
  );
  server.tool('test_trigger_tool_change', { description: 'Announces a tools list change' }, () => {
    server.notifyListChanged('tools');
    return 'tools/list_changed sent';
  });
  server.tool('test_trigger_prompt_change', { description: 'Announces a prompts list change' }, () => {
    server.notifyListChanged('prompts');
    return 'prompts/list_changed sent';
  });
  server.tool(
    'test_x_mcp_header',
    {
      description: 'Echoes a parameter mirrored into the Mcp-Param-Region header',
      inputSchema: {
        type: 'object',
        properties: { region: { type: 'string', description: 'Cloud region', 'x-mcp-header': 'Region' } },
        required: ['region'],
      },
    },
    (args) => `region=${String(args.region)}`,
  );

  // ----------------------------------------------------------------- multi-round-trip (input_required) fixtures
  const nameQuestion = {
    method: 'elicitation/create',
    params: elicitForm('What is your name?', { name: { type: 'string' } }, ['name']),
  } as const;
  server.tool(
    'test_input_required_result_elicitation',
    { description: 'Asks for the user name, then greets' },
    async (_args, ctx) => {
      const { user_name } = await ctx.inputs({ user_name: nameQuestion });
      return `Hello, ${String((user_name.content as { name?: string } | undefined)?.name)}!`;
    },
  );
  server.tool(
    'test_input_required_result_sampling',
    { description: 'Asks the client LLM a question' },
    async (_args, ctx) => {
      const { capital_question } = await ctx.inputs({
        capital_question: {
          method: 'sampling/createMessage',
          params: {
            messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
            maxTokens: 100,
          },
        },
      });
      return textOf(capital_question);
    },
  );
  server.tool(
    'test_input_required_result_list_roots',
    { description: 'Lists the client roots' },
    async (_args, ctx) => {
      const { client_roots } = await ctx.inputs({ client_roots: { method: 'roots/list', params: {} } });
      const roots = (client_roots.roots as Array<{ uri: string }>).map((r) => r.uri);
      return `Client roots: ${roots.join(', ')}`;
    },
  );
  server.tool(
    'test_input_required_result_request_state',
    { description: 'Carries state across rounds in requestState' },
    async (_args, ctx) => {
      ctx.handlerState ??= { startedAt: new Date().toISOString() };
      const { confirm } = await ctx.inputs({
        confirm: {
          method: 'elicitation/create',
          params: elicitForm('Please confirm', { ok: { type: 'boolean' } }, ['ok']),
        },
      });
      const state = ctx.handlerState as { startedAt?: string } | undefined;
      return `${state?.startedAt ? 'state-ok' : 'state-missing'}: confirmed=${String((confirm.content as { ok?: boolean } | undefined)?.ok)}`;
    },
  );
  server.tool(
    'test_input_required_result_multiple_inputs',
    { description: 'Asks for three inputs at once' },
    async (_args, ctx) => {
      const answers = await ctx.inputs({
        user_name: nameQuestion,
        greeting: {
          method: 'sampling/createMessage',
          params: {
            messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
            maxTokens: 50,
          },
        },
        client_roots: { method: 'roots/list', params: {} },
      });
      const name = (answers.user_name.content as { name?: string } | undefined)?.name;
      return `${textOf(answers.greeting)} ${String(name)} (${(answers.client_roots.roots as unknown[]).length} roots)`;
    },
  );
  server.tool(
    'test_input_required_result_multi_round',
    { description: 'Asks two questions in two rounds' },
    async (_args, ctx) => {
      const { step1 } = await ctx.inputs({
        step1: {
          method: 'elicitation/create',
          params: elicitForm('Step 1: What is your name?', { name: { type: 'string' } }, ['name']),
        },
      });
      const { step2 } = await ctx.inputs({
        step2: {
          method: 'elicitation/create',
          params: elicitForm('Step 2: What is your favorite color?', { color: { type: 'string' } }, [
            'color',
          ]),
        },
      });
      const name = (step1.content as { name?: string } | undefined)?.name;
      const color = (step2.content as { color?: string } | undefined)?.color;
      return `${String(name)} likes ${String(color)}`;
    },
  );
  server.tool(
    'test_input_required_result_tampered_state',
    { description: 'Rejects a tampered requestState' },
    async (_args, ctx) => {
      const { confirm } = await ctx.inputs({
        confirm: {
          method: 'elicitation/create',
          params: elicitForm('Confirm?', { ok: { type: 'boolean' } }, ['ok']),
        },
      });
      return `confirmed=${String((confirm.content as { ok?: boolean } | undefined)?.ok)}`;
    },
  );
  server.tool(
    'test_input_required_result_capabilities',
    { description: 'Only asks for what the client supports' },
    async (_args, ctx: HandlerContext) => {
      if (ctx.hasClientCapability('elicitation')) {
        const { user_name } = await ctx.inputs({ user_name: nameQuestion });
        return `elicited ${JSON.stringify(user_name.content)}`;
      }
      if (ctx.hasClientCapability('sampling')) {
        const { question } = await ctx.inputs({
          question: {
            method: 'sampling/createMessage',
            params: {
              messages: [{ role: 'user', content: { type: 'text', text: 'Say hi' } }],
              maxTokens: 20,
            },
          },
        });
        return `sampled: ${textOf(question)}`;
      }
      if (ctx.hasClientCapability('roots')) {
        const { roots } = await ctx.inputs({ roots: { method: 'roots/list', params: {} } });
        return `roots: ${JSON.stringify(roots.roots)}`;
      }
      return 'The client declared no capability to ask with.';
    },
  );

  // ----------------------------------------------------------------- tasks extension fixtures
  server.tool(
    'greet',
    { description: 'Greets synchronously (never a task)', inputSchema: z.object({ name: z.string() }) },
    ({ name }) => `Hello, ${name}!`,
  );
  server.tool(
    'slow_compute',
    {
      description: 'Computes for the given number of seconds; runs as a task when the client supports tasks',
      inputSchema: z.object({ seconds: z.number().min(0).max(600), label: z.string().optional() }),
      taskSupport: 'optional',
    },
    async ({ seconds, label }, ctx) => {
      await sleep(seconds * 1000, ctx.signal);
      return `Computed ${label ?? 'result'} after ${seconds} s`;
    },
  );
  server.tool(
    'failing_job',
    { description: 'A task whose tool fails (isError result)', taskSupport: 'required' },
    async (_args, ctx) => {
      await sleep(1000, ctx.signal);
      throw new Error('The job failed while processing');
    },
  );
  server.tool(
    'protocol_error_job',
    { description: 'A task that ends with a protocol error', taskSupport: 'required' },
    async (_args, ctx) => {
      await sleep(200, ctx.signal);
      throw new McpError(ErrorCode.InternalError, 'The job hit a protocol-level failure');
    },
  );
  server.tool(
    'confirm_delete',
    {
      description: 'Asks for confirmation inside a task',
      inputSchema: z.object({ filename: z.string() }),
      taskSupport: 'optional',
    },
    async ({ filename }, ctx) => {
      const { confirm } = await ctx.inputs({
        confirm: {
          method: 'elicitation/create',
          params: elicitForm(`Delete ${filename}?`, { confirm: { type: 'boolean' } }, ['confirm']),
        },
      });
      const yes = (confirm.content as { confirm?: boolean } | undefined)?.confirm === true;
      return yes ? `Deleted ${filename}` : `Kept ${filename}`;
    },
  );
  server.tool(
    'multi_input',
    { description: 'Asks two questions at once inside a task', taskSupport: 'optional' },
    async (_args, ctx) => {
      const answers = await ctx.inputs({
        first: {
          method: 'elicitation/create',
          params: elicitForm('First question?', { answer: { type: 'string' } }, ['answer']),
        },
        second: {
          method: 'elicitation/create',
          params: elicitForm('Second question?', { answer: { type: 'string' } }, ['answer']),
        },
      });
      return `Answers: ${JSON.stringify(answers.first.content)} ${JSON.stringify(answers.second.content)}`;
    },
  );
  server.tool(
    'test_tool_with_task',
    {
      description: 'Asks for a name (input_required), then finishes as a task',
      taskSupport: 'required',
      deferTask: true,
    },
    async (_args, ctx) => {
      const { user_name } = await ctx.inputs({ user_name: nameQuestion });
      const name = (user_name.content as { name?: string } | undefined)?.name;
      return ctx.runTask(async (task) => {
        await sleep(100, task.signal);
        return `Hello, ${String(name)}! (from a task)`;
      });
    },
  );

  // ----------------------------------------------------------------- resources (static-text first: the caching scenario reads resources[0])
  server.resource(
    'test://static-text',
    { name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
    () => 'This is the content of the static text resource.',
  );
  server.resource(
    'test://static-binary',
    { name: 'static-binary', description: 'A static binary resource', mimeType: 'image/png' },
    (uri) => [{ uri, mimeType: 'image/png', blob: PNG }],
  );
  server.resource(
    'test://embedded-resource',
    { name: 'embedded-resource', description: 'Embedded by a tool', mimeType: 'text/plain' },
    () => 'This is an embedded resource content.',
  );
  server.resource(
    'test://mixed-content-resource',
    {
      name: 'mixed-content-resource',
      description: 'JSON used in mixed content',
      mimeType: 'application/json',
    },
    () => '{"test":"data","value":123}',
  );
  server.resource(
    'test://watched-resource',
    { name: 'watched-resource', description: 'Subscribe to get updates', mimeType: 'text/plain' },
    () => 'Watched resource content',
  );
  server.resourceTemplate(
    'test://template/{id}/data',
    {
      name: 'template',
      description: 'A parameterised data resource',
      mimeType: 'application/json',
      complete: { id: (value) => ['1', '2', '3', '123'].filter((id) => id.startsWith(value)) },
    },
    (uri, { id }) => JSON.stringify({ id, templateTest: true, data: `Data for ID: ${String(id)}` }),
  );

  // ----------------------------------------------------------------- prompts
  server.prompt(
    'test_simple_prompt',
    { description: 'A simple prompt without arguments' },
    () => 'This is a simple prompt for testing.',
  );
  server.prompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two required arguments',
      arguments: [
        { name: 'arg1', description: 'First test argument', required: true },
        { name: 'arg2', description: 'Second test argument', required: true },
      ],
      complete: {
        arg1: (value) => ['test', 'testValue1', 'testing'].filter((v) => v.startsWith(value)),
        arg2: (value) => ['testValue2', 'other'].filter((v) => v.startsWith(value)),
      },
    },
    (args) => `Prompt with arguments: arg1='${String(args.arg1)}', arg2='${String(args.arg2)}'`,
  );
  server.prompt(
    'test_prompt_with_embedded_resource',
    {
      description: 'A prompt embedding a resource',
      arguments: [{ name: 'resourceUri', description: 'URI to embed', required: true }],
    },
    (args) => [
      {
        role: 'user',
        content: {
          type: 'resource',
          resource: {
            uri: String(args.resourceUri),
            mimeType: 'text/plain',
            text: 'Embedded resource content for testing.',
          },
        },
      },
      { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
    ],
  );
  server.prompt('test_prompt_with_image', { description: 'A prompt with an image' }, () => [
    { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
    { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
  ]);
  server.prompt(
    'test_input_required_result_prompt',
    { description: 'Asks for context before rendering (2026-07-28)' },
    async (_args, ctx) => {
      const { user_context } = await ctx.inputs({
        user_context: {
          method: 'elicitation/create',
          params: elicitForm('What context should the prompt use?', { context: { type: 'string' } }, [
            'context',
          ]),
        },
      });
      return `Use this context: ${String((user_context.content as { context?: string } | undefined)?.context)}`;
    },
  );

  return server;
}
