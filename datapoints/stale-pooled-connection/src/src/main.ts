import { loadConfig } from "./config";
import { closeDatabase, configureDatabase, getClient } from "./db";
import { createServer } from "./http";
import { configureLogging, errorFields, log } from "./log";
import { configureRetries } from "./retry";

const SHUTDOWN_GRACE_MS = 5000;

async function main(): Promise<void> {
  const config = loadConfig();
  configureLogging(config.logLevel, config.instanceId);
  configureDatabase(config.databaseUrl);
  configureRetries(config.retryAttempts, config.retryBaseMs);
  await getClient("startup");

  const server = createServer(config.rulesUrl);
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
        await closeDatabase();
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
