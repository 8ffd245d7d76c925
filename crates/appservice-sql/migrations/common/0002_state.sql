-- appservice-sql schema version 2: the state store (the same SQL on SQLite and PostgreSQL).
CREATE TABLE appservice_users (
    user_id TEXT PRIMARY KEY,
    registered_at BIGINT NOT NULL
);
CREATE TABLE appservice_memberships (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    membership TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE TABLE appservice_profiles (
    user_id TEXT PRIMARY KEY,
    displayname TEXT,
    avatar_url TEXT
);
CREATE TABLE appservice_kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX appservice_kv_value ON appservice_kv (namespace, value);
