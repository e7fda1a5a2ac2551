-- 001_initial.sql: the chat service's tables: conversations, their
-- messages, WebSocket connections and safety escalations.
--
-- Applied by sql/wsrouter-migrate inside one transaction, with its
-- schema_migrations row; a migration file holds no BEGIN or COMMIT.
-- Every timestamp is timestamptz (an instant, shown in UTC by our
-- sessions). Enumerations are text with a CHECK, so a new value is one
-- ALTER TABLE rather than an enum type to migrate. docs/database.md says
-- which query each index serves.

-- A conversation, owned by one user (the JWT "sub"). The id comes from
-- the client; the first message with a new id creates the session.
CREATE TABLE chat_sessions (
	id		uuid		PRIMARY KEY,
	user_id		text		NOT NULL
	    CHECK (user_id <> '' AND octet_length(user_id) <= 256),
	created_at	timestamptz	NOT NULL DEFAULT now(),
	updated_at	timestamptz	NOT NULL DEFAULT now(),
	-- The target of the messages' and escalations' (session, user)
	-- foreign keys: a row can only name its session's owner.
	UNIQUE (id, user_id)
);

-- A user's conversations, most recently active first (listing, export,
-- deletion on request, retention).
CREATE INDEX chat_sessions_user_idx ON chat_sessions (user_id, updated_at);

-- One WebSocket connection, from CONNECT to DISCONNECT. The id is the
-- router's connection id. ended_at IS NULL while it is open.
CREATE TABLE ws_connections (
	id		text		PRIMARY KEY
	    CHECK (id <> '' AND octet_length(id) <= 256),
	user_id		text		NOT NULL
	    CHECK (user_id <> '' AND octet_length(user_id) <= 256),
	router_instance	text,
	remote_addr	text,
	user_agent	text,
	connected_at	timestamptz	NOT NULL DEFAULT now(),
	ended_at	timestamptz,
	close_code	integer
	    CHECK (close_code IS NULL OR close_code BETWEEN 0 AND 65535),
	close_reason	text,
	CHECK (ended_at IS NULL OR ended_at >= connected_at)
);

-- The per-user limit at CONNECT counts a user's open connections, and
-- stale rows are reconciled from the same list.
CREATE INDEX ws_connections_open_idx ON ws_connections (user_id)
    WHERE ended_at IS NULL;
-- Retention: closed connections older than some age.
CREATE INDEX ws_connections_ended_idx ON ws_connections (ended_at)
    WHERE ended_at IS NOT NULL;

-- A message of a conversation. A user message is stored before the model
-- is asked; the assistant's once its stream ends, complete or interrupted
-- (client gone, upstream error, timeout: the reason is in error).
-- connection_id has no foreign key on purpose: it records which
-- connection carried the message, and a message is never refused because
-- the connection's row was purged or written by another database.
CREATE TABLE chat_messages (
	id		uuid		PRIMARY KEY DEFAULT gen_random_uuid(),
	session_id	uuid		NOT NULL,
	user_id		text		NOT NULL,
	connection_id	text,
	role		text		NOT NULL
	    CHECK (role IN ('user', 'assistant')),
	content		text		NOT NULL,
	status		text		NOT NULL DEFAULT 'complete'
	    CHECK (status IN ('complete', 'interrupted')),
	token_count	integer		CHECK (token_count >= 0),
	risk_level	text		NOT NULL DEFAULT 'none'
	    CHECK (risk_level IN ('none', 'low', 'medium', 'high')),
	intent		text,
	error		text,
	-- clock_timestamp(), not now(): two messages stored in one
	-- transaction still get their order.
	created_at	timestamptz	NOT NULL DEFAULT clock_timestamp(),
	FOREIGN KEY (session_id, user_id)
	    REFERENCES chat_sessions (id, user_id) ON DELETE CASCADE
);

-- The history of a session, newest first, within a budget; also the
-- foreign key's lookups when a session is deleted.
CREATE INDEX chat_messages_session_idx ON chat_messages (session_id,
    created_at);

-- A high-risk message, and whether a person was told (the webhook).
CREATE TABLE safety_escalations (
	id		uuid		PRIMARY KEY DEFAULT gen_random_uuid(),
	session_id	uuid		NOT NULL,
	message_id	uuid		REFERENCES chat_messages (id)
	    ON DELETE SET NULL,
	user_id		text		NOT NULL,
	connection_id	text,
	risk_level	text		NOT NULL
	    CHECK (risk_level IN ('none', 'low', 'medium', 'high')),
	category	text,
	matched_phrase	text,
	notified_at	timestamptz,
	notify_error	text,
	created_at	timestamptz	NOT NULL DEFAULT now(),
	FOREIGN KEY (session_id, user_id)
	    REFERENCES chat_sessions (id, user_id) ON DELETE CASCADE
);

-- Escalations of a session (the foreign key when a session is deleted).
CREATE INDEX safety_escalations_session_idx ON safety_escalations
    (session_id);
-- The foreign key when a message is deleted.
CREATE INDEX safety_escalations_message_idx ON safety_escalations
    (message_id);
-- The follow-up queue: escalations nobody was told about yet.
CREATE INDEX safety_escalations_pending_idx ON safety_escalations
    (created_at) WHERE notified_at IS NULL;
