import { Db } from "../db";
import { PricedBatch } from "../rules";

export interface Settlement {
  batchId: number;
  settlementId: number;
  grossCents: number;
  feeCents: number;
  netCents: number;
  entries: number;
}

interface SettlementRow {
  id: number;
  batch_id: number;
  gross_cents: string;
  fee_cents: string;
  net_cents: string;
  entries: string;
}

function toSettlement(row: SettlementRow): Settlement {
  return {
    batchId: row.batch_id,
    settlementId: row.id,
    grossCents: Number(row.gross_cents),
    feeCents: Number(row.fee_cents),
    netCents: Number(row.net_cents),
    entries: Number(row.entries),
  };
}

export class LedgerService {
  constructor(private readonly db: Db) {}

  /** Writes the settlement, its ledger entries and the batch status in one statement. */
  async record(batchId: number, priced: PricedBatch): Promise<Settlement> {
    const res = await this.db.query<SettlementRow>(
      `WITH s AS (
         INSERT INTO settlements (batch_id, gross_cents, fee_cents, net_cents)
         VALUES ($1, $2, $3, $4)
         RETURNING id, batch_id, gross_cents, fee_cents, net_cents
       ), l AS (
         INSERT INTO ledger_entries (settlement_id, line_item_id, payout_cents)
         SELECT s.id, x.line_item_id, x.payout_cents
           FROM s, unnest($5::int[], $6::bigint[]) AS x (line_item_id, payout_cents)
       ), b AS (
         UPDATE batches SET status = 'settled', settled_at = now() WHERE id = $1
       )
       SELECT s.*, cardinality($5::int[]) AS entries FROM s`,
      [
        batchId,
        priced.grossCents,
        priced.feeCents,
        priced.netCents,
        priced.items.map((i) => i.lineItemId),
        priced.items.map((i) => i.payoutCents),
      ],
    );
    return toSettlement(res.rows[0]);
  }

  async find(batchId: number): Promise<Settlement | null> {
    const res = await this.db.query<SettlementRow>(
      `SELECT s.id, s.batch_id, s.gross_cents, s.fee_cents, s.net_cents,
              (SELECT count(*) FROM ledger_entries e WHERE e.settlement_id = s.id) AS entries
         FROM settlements s
        WHERE s.batch_id = $1
        ORDER BY s.id
        LIMIT 1`,
      [batchId],
    );
    return res.rows.length ? toSettlement(res.rows[0]) : null;
  }
}
