// Type declarations for the part of node-redis 4 (Debian's node-redis) that
// this service uses. The package's own typings instantiate every command of
// every bundled Redis module and make each tsc run take many seconds; add the
// commands you need here. Runtime behaviour is node-redis's, unchanged.

export type RedisArgument = string | Buffer;
export type RedisReply = string | number | Buffer | null | RedisReply[];

export interface RedisClientOptions {
  url?: string;
  name?: string;
  database?: number;
  isolationPoolOptions?: { min?: number; max?: number };
}

export interface SetOptions {
  EX?: number;
  PX?: number;
  NX?: boolean;
  XX?: boolean;
  KEEPTTL?: boolean;
  GET?: boolean;
}

export interface EvalOptions {
  keys?: RedisArgument[];
  arguments?: RedisArgument[];
}

export interface RedisClientType {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<void>;
  quit(): Promise<void>;
  disconnect(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): this;
  on(event: "connect" | "ready" | "end" | "reconnecting", listener: () => void): this;

  get(key: RedisArgument): Promise<string | null>;
  mGet(keys: RedisArgument[]): Promise<(string | null)[]>;
  set(key: RedisArgument, value: RedisArgument | number, options?: SetOptions): Promise<string | null>;
  del(keys: RedisArgument | RedisArgument[]): Promise<number>;
  exists(keys: RedisArgument | RedisArgument[]): Promise<number>;
  expire(key: RedisArgument, seconds: number): Promise<boolean>;
  incr(key: RedisArgument): Promise<number>;
  watch(keys: RedisArgument | RedisArgument[]): Promise<string>;
  unwatch(): Promise<string>;
  eval(script: RedisArgument, options?: EvalOptions): Promise<RedisReply>;
  evalSha(sha1: RedisArgument, options?: EvalOptions): Promise<RedisReply>;
  scriptLoad(script: RedisArgument): Promise<string>;
  sendCommand<T = RedisReply>(args: RedisArgument[]): Promise<T>;

  // MULTI ... EXEC. exec() rejects with WatchError when a WATCHed key changed.
  multi(): RedisClientMultiCommandType;
  // Runs fn on a dedicated connection from a pool (needed for WATCH).
  executeIsolated<T>(fn: (client: RedisClientType) => T | Promise<T>): Promise<T>;
}

export interface RedisClientMultiCommandType {
  get(key: RedisArgument): this;
  mGet(keys: RedisArgument[]): this;
  set(key: RedisArgument, value: RedisArgument | number, options?: SetOptions): this;
  del(keys: RedisArgument | RedisArgument[]): this;
  expire(key: RedisArgument, seconds: number): this;
  incr(key: RedisArgument): this;
  eval(script: RedisArgument, options?: EvalOptions): this;
  addCommand(args: RedisArgument[]): this;
  exec(execAsPipeline?: boolean): Promise<RedisReply[]>;
}

export function createClient(options?: RedisClientOptions): RedisClientType;

export class WatchError extends Error {}
export class ErrorReply extends Error {}
