import { createClient } from "redis";
import { DirectoryCache } from "./cache";
import { loadConfig } from "./config";
import { Database } from "./db";
import { Directory } from "./directory";
import { createServer } from "./http";
import { configureLogging, errorFields, log } from "./log";

const SHUTDOWN_GRACE_MS = 5000;

async function main(): Promise<void> {
  const config = loadConfig();
  configureLogging(config.logLevel, config.instanceId);

  const db = new Database(config.databaseUrl, config.dbPoolSize);
  db.onError((err) => log.error("idle postgres client failed", errorFields(err)));
  await db.ping();

  const redis = createClient({ url: config.redisUrl });
  redis.on("error", (err: unknown) => log.error("redis client error", errorFields(err)));
  await redis.connect();

  const directory = new Directory(db, new DirectoryCache(redis, config.cacheTtlSeconds));
  const server = createServer(directory);
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, () => resolve());
  });
  log.info("listening", { port: config.port });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      return;
    }
    stopping = true;
    log.info("shutting down", { signal });
    const force = setTimeout(() => {
      log.warn("shutdown grace period over; closing connections");
      server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    server.close(async () => {
      try {
        await redis.quit();
        await db.close();
        log.info("stopped");
        process.exit(0);
      } catch (err) {
        log.error("shutdown failed", errorFields(err));
        process.exit(1);
      }
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  log.error("startup failed", errorFields(err));
  process.exit(1);
});
