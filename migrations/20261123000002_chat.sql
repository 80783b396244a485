-- Chat sessions belong to one user; deleting the user or the session removes
-- everything under it.
--
-- next_seq is the session's message counter: a chat turn takes the session
-- row lock with `UPDATE ... SET next_seq = next_seq + 2 RETURNING`, so
-- concurrent turns on one session are numbered without gaps, and a turn that
-- rolls back gives its numbers back.
CREATE TABLE chat_sessions (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT        NOT NULL,
    next_seq   INTEGER     NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The session list: a user's sessions, newest first, keyset-paginated by id.
CREATE INDEX chat_sessions_user_id_idx ON chat_sessions (user_id, id DESC);

-- Messages of a session in conversation order (seq). A turn writes its user
-- message and its assistant reply in one transaction.
CREATE TABLE messages (
    id                BIGSERIAL PRIMARY KEY,
    session_id        BIGINT      NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq               INTEGER     NOT NULL,
    role              TEXT        NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content           TEXT        NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    metadata          JSONB       NOT NULL DEFAULT '{}'::jsonb,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Also the index for "the last N messages of a session" (history) and
    -- "all messages of a session" (session view).
    CONSTRAINT messages_session_seq_key UNIQUE (session_id, seq)
);

-- One rating per user per message; a second rating replaces the first.
CREATE TABLE message_feedback (
    id         BIGSERIAL PRIMARY KEY,
    message_id BIGINT      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating     SMALLINT    NOT NULL CHECK (rating BETWEEN -1 AND 5),
    comment    TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT message_feedback_message_user_key UNIQUE (message_id, user_id)
);
CREATE INDEX message_feedback_user_id_idx ON message_feedback (user_id);
