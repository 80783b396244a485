-- Accounts. Usernames are unique as typed (the original compares them
-- exactly); e-mail addresses are optional and unique case-insensitively.
-- password_hash holds an argon2id PHC string, parameters included, so the
-- cost can be raised later without invalidating existing hashes.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT        NOT NULL,
    email         TEXT,
    password_hash TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_username_key UNIQUE (username)
);

-- Login by e-mail and the duplicate check on registration.
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;
