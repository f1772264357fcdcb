// One settlement job: get the database client, build the services, load the
// pricing rules (the slow part, ~300 ms in production), then load the batch
// and write its settlement.
import { getClient } from "./db";
import { applyRules, fetchRules } from "./rules";
import { withRetry } from "./retry";
import { BatchRepository } from "./services/batches";
import { LedgerService, Settlement } from "./services/ledger";

export class SettlementJob {
  private batches!: BatchRepository;
  private ledger!: LedgerService;

  constructor(private readonly rulesUrl: string, private readonly batchId: number) {}

  get flow(): string {
    return `batch-${this.batchId}`;
  }

  private async initialize(): Promise<void> {
    const db = await getClient(this.flow);
    this.batches = new BatchRepository(db);
    this.ledger = new LedgerService(db);
  }

  /** The batch's settlement, or null when there is no such batch. Settling a settled batch returns its settlement. */
  async run(): Promise<Settlement | null> {
    await this.initialize();
    const rules = await fetchRules(this.rulesUrl, this.batchId);

    const batch = await withRetry(this.flow, "LoadBatch", () => this.batches.load(this.batchId));
    if (!batch) {
      return null;
    }
    if (batch.status === "settled") {
      return withRetry(this.flow, "FindSettlement", () => this.ledger.find(this.batchId));
    }
    const priced = applyRules(rules, batch.items);
    return withRetry(this.flow, "RecordSettlement", () => this.ledger.record(this.batchId, priced));
  }
}
