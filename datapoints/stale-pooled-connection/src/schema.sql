-- Schema of the settlement runner (applied by migrations, not by the service).

CREATE TABLE batches (
    id         integer PRIMARY KEY,
    merchant   text        NOT NULL,
    status     text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled')),
    settled_at timestamptz
);

CREATE TABLE line_items (
    id           serial  PRIMARY KEY,
    batch_id     integer NOT NULL REFERENCES batches (id),
    amount_cents bigint  NOT NULL
);
CREATE INDEX line_items_batch_id ON line_items (batch_id);

-- Append-only: one settlement per settled batch, one ledger entry per line item.
CREATE TABLE settlements (
    id          serial      PRIMARY KEY,
    batch_id    integer     NOT NULL REFERENCES batches (id),
    gross_cents bigint      NOT NULL,
    fee_cents   bigint      NOT NULL,
    net_cents   bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settlements_batch_id ON settlements (batch_id);

CREATE TABLE ledger_entries (
    id            serial  PRIMARY KEY,
    settlement_id integer NOT NULL REFERENCES settlements (id),
    line_item_id  integer NOT NULL REFERENCES line_items (id),
    payout_cents  bigint  NOT NULL
);
