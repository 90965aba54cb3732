import { randomUUID } from 'node:crypto';
import {
  ErrorCode,
  InvalidOptionError,
  InvalidParamsError,
  McpError,
  MissingClientCapabilityError,
} from '../protocol/errors.js';
import { TASKS_EXTENSION } from '../protocol/meta.js';
import { Call, type Exchange, type InputRequestSpec } from './context.js';
import type { Result } from './middleware.js';
import type { McpServer } from './server.js';

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
const TERMINAL = new Set<TaskStatus>(['completed', 'failed', 'cancelled']);

export interface TaskRecord {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttlMs: number;
  pollIntervalMs: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
  inputRequests?: Record<string, { method: string; params?: unknown }>;
  /** Principal that created the task: only it may read, update or cancel it. */
  owner?: string;
}

export interface TasksOptions {
  /** How long a task stays readable, default 5 minutes (counted from its last update). */
  ttlMs?: number;
  pollIntervalMs?: number;
  /** Bound on live task records, default 10,000. */
  maxTasks?: number;
}

/** Thrown by `ctx.runTask()` to hand the caller a CreateTaskResult instead of a final result. */
export class TaskStarted {
  constructor(readonly result: Result) {}
}

interface LiveTask {
  record: TaskRecord;
  controller: AbortController;
  /** Resolvers waiting on input keys. */
  waiting: Map<string, (answer: Record<string, unknown>) => void>;
  expires: number;
}

/**
 * The tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28): long-running calls
 * return a task handle; clients poll with tasks/get, answer input with tasks/update and
 * stop work with tasks/cancel. Negotiated per request from the client's `_meta` capabilities.
 */
export class TaskManager {
  private readonly tasks = new Map<string, LiveTask>();
  readonly ttlMs: number;
  readonly pollIntervalMs: number;
  readonly maxTasks: number;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly server: McpServer,
    options: TasksOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 300_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxTasks = options.maxTasks ?? 10_000;
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs <= 0)
      throw new InvalidOptionError('tasks.ttlMs', 'must be a positive integer');
    if (!Number.isSafeInteger(this.pollIntervalMs) || this.pollIntervalMs <= 0)
      throw new InvalidOptionError('tasks.pollIntervalMs', 'must be a positive integer');
    if (!Number.isSafeInteger(this.maxTasks) || this.maxTasks <= 0)
      throw new InvalidOptionError('tasks.maxTasks', 'must be a positive integer');
    server.capabilityHooks.push((caps) => {
      caps.extensions = {
        ...(caps.extensions as Record<string, unknown> | undefined),
        [TASKS_EXTENSION]: {},
      };
    });
    const gate = (call: Call) => {
      if (!this.declared(call))
        throw new MissingClientCapabilityError({ extensions: { [TASKS_EXTENSION]: {} } });
      const taskId = call.params.taskId;
      if (typeof taskId !== 'string') throw new InvalidParamsError('taskId must be a string');
      call.target = taskId;
      const task = this.tasks.get(taskId);
      if (!task || task.expires < Date.now() || task.record.owner !== call.auth?.subject)
        throw new InvalidParamsError(`Unknown task: ${taskId}`);
      return task;
    };
    server.method('tasks/get', async (call) => ({ ...gate(call).record, owner: undefined }));
    server.method('tasks/update', async (call) => {
      const task = gate(call);
      const responses = call.params.inputResponses;
      if (typeof responses === 'object' && responses !== null && !Array.isArray(responses)) {
        for (const [key, answer] of Object.entries(responses as Record<string, unknown>)) {
          const resolve = task.waiting.get(key);
          if (!resolve || typeof answer !== 'object' || answer === null) continue; // Unknown or already satisfied: ignored (spec).
          task.waiting.delete(key);
          if (task.record.inputRequests) delete task.record.inputRequests[key];
          resolve(answer as Record<string, unknown>);
        }
        if (task.waiting.size === 0 && task.record.status === 'input_required')
          this.patch(task, { status: 'working' });
      }
      return {};
    });
    server.method('tasks/cancel', async (call) => {
      const task = gate(call);
      if (!TERMINAL.has(task.record.status)) {
        this.patch(task, { status: 'cancelled', statusMessage: 'Cancelled by client' });
        task.controller.abort(new Error('task cancelled'));
      }
      return {};
    });
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, this.ttlMs));
    this.sweeper.unref?.();
  }

  /** Whether this request declared the tasks extension in its capabilities. */
  declared(call: Call): boolean {
    if (call.era !== 'modern') return false;
    const extensions = call.clientCapabilities.extensions as Record<string, unknown> | undefined;
    return extensions?.[TASKS_EXTENSION] !== undefined;
  }

  /** Starts `run` as a task detached from the request, and returns the CreateTaskResult. */
  start(call: Call, run: (taskCall: Call) => Promise<Result>): Result {
    this.sweep();
    if (this.tasks.size >= this.maxTasks)
      throw new McpError(ErrorCode.InternalError, 'Too many tasks in progress; retry later');
    const now = new Date().toISOString();
    const record: TaskRecord = {
      taskId: randomUUID(),
      status: 'working',
      createdAt: now,
      lastUpdatedAt: now,
      ttlMs: this.ttlMs,
      pollIntervalMs: this.pollIntervalMs,
    };
    const owner = call.auth?.subject;
    if (owner !== undefined) record.owner = owner;
    const controller = new AbortController();
    const task: LiveTask = { record, controller, waiting: new Map(), expires: Date.now() + this.ttlMs };
    this.tasks.set(record.taskId, task);
    const exchange: Exchange = {
      transport: call.transport,
      signal: controller.signal,
      info: call.exchange.info,
      session: undefined,
      notify: async () => {},
    };
    const taskCall = new Call(
      call.requestId,
      call.method,
      call.params,
      call.era,
      call.protocolVersion,
      call.clientInfo,
      exchange,
      call.logger,
    );
    taskCall.target = call.target;
    taskCall.clientCapabilities = call.clientCapabilities;
    taskCall.answers = call.answers;
    taskCall.taskInputs = (requests) => this.waitForInputs(task, requests);
    // Let the request answer first; the work continues after it.
    setImmediate(() => {
      run(taskCall).then(
        (result) => {
          if (!TERMINAL.has(task.record.status)) this.patch(task, { status: 'completed', result });
        },
        (err: unknown) => {
          if (TERMINAL.has(task.record.status)) return;
          const wire =
            err instanceof McpError
              ? err
              : new McpError(ErrorCode.InternalError, err instanceof Error ? err.message : String(err));
          const error: TaskRecord['error'] = { code: wire.code, message: wire.message };
          if (wire.data !== undefined) error.data = wire.data;
          this.patch(task, { status: 'failed', error });
        },
      );
    });
    const { owner: _owner, ...visible } = record;
    return { ...visible, resultType: 'task' };
  }

  private waitForInputs(
    task: LiveTask,
    requests: Record<string, InputRequestSpec>,
  ): Promise<Record<string, Record<string, unknown>>> {
    const keys = Object.keys(requests);
    const inputRequests = { ...task.record.inputRequests };
    const answers: Record<string, Record<string, unknown>> = {};
    const pending = keys.map(
      (key) =>
        new Promise<void>((resolve, reject) => {
          task.waiting.set(key, (answer) => {
            answers[key] = answer;
            resolve();
          });
          task.controller.signal.addEventListener('abort', () => reject(task.controller.signal.reason), {
            once: true,
          });
        }),
    );
    for (const key of keys) {
      const spec = requests[key] as InputRequestSpec;
      inputRequests[key] =
        spec.params === undefined ? { method: spec.method } : { method: spec.method, params: spec.params };
    }
    this.patch(task, { status: 'input_required', inputRequests });
    return Promise.all(pending).then(() => answers);
  }

  private patch(task: LiveTask, changes: Partial<TaskRecord>): void {
    Object.assign(task.record, changes);
    if (changes.status !== undefined && changes.status !== 'input_required') delete task.record.inputRequests;
    task.record.lastUpdatedAt = new Date().toISOString();
    task.expires = Date.now() + this.ttlMs;
  }

  private sweep(now = Date.now()): void {
    for (const [id, task] of this.tasks) {
      if (task.expires < now && TERMINAL.has(task.record.status)) this.tasks.delete(id);
    }
  }

  get size(): number {
    return this.tasks.size;
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const task of this.tasks.values()) task.controller.abort(new Error('server closing'));
  }
}
