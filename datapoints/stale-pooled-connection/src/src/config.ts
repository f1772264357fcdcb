import * as os from "os";

export interface Config {
  port: number;
  databaseUrl: string;
  rulesUrl: string;
  dbPoolSize: number;
  retryAttempts: number;
  retryBaseMs: number;
  logLevel: string;
  instanceId: string;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`missing required environment variable ${name}`);
  }
  return value;
}

function integer(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function loadConfig(): Config {
  const port = integer("PORT", 8080);
  return {
    port,
    databaseUrl: required("DATABASE_URL"),
    rulesUrl: required("RULES_URL"),
    // Connections the runner may hold to Postgres at most (ops sized the
    // database's max_connections for this many per instance).
    dbPoolSize: integer("DB_POOL_SIZE", 5),
    retryAttempts: integer("DB_RETRY_ATTEMPTS", 5),
    retryBaseMs: integer("DB_RETRY_BASE_MS", 1000),
    logLevel: process.env.LOG_LEVEL || "info",
    instanceId: process.env.INSTANCE_ID || `${os.hostname()}:${port}`,
  };
}
