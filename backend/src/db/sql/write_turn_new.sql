WITH s AS (
    INSERT INTO chat_sessions (user_id, title, next_seq) VALUES ($1, $10::text, 2)
    RETURNING id, 0 AS seq
)
INSERT INTO messages (session_id, seq, role, content, prompt_tokens, completion_tokens, metadata)
SELECT s.id, s.seq + v.off, v.role, v.content, v.pt, v.ct, v.md
FROM s, (VALUES (0, 'user', $2::text, $3::int, $4::int, $5::jsonb),
                (1, 'assistant', $6::text, $7::int, $8::int, $9::jsonb)) AS v (off, role, content, pt, ct, md)
RETURNING id, session_id, seq, role, content, metadata, created_at
