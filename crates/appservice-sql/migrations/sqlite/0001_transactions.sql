-- appservice-sql schema version 1: the completed transactions.
CREATE TABLE appservice_transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    txn_id TEXT NOT NULL UNIQUE,
    fingerprint BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX appservice_transactions_recorded_at ON appservice_transactions (recorded_at);
