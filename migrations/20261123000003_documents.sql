-- The retriever's corpus (RETRIEVER_PROVIDER=postgres), filled by
-- `seed corpus`. Full-text search ranks over a generated tsvector so the
-- document text is indexed once, at write time. `source` identifies a
-- document (its file name in load-tests/corpus/), so re-seeding updates
-- rather than duplicates.
CREATE TABLE documents (
    id         BIGSERIAL PRIMARY KEY,
    source     TEXT        NOT NULL,
    title      TEXT        NOT NULL,
    content    TEXT        NOT NULL,
    tsv        TSVECTOR    GENERATED ALWAYS AS (
                   setweight(to_tsvector('english', title), 'A') ||
                   setweight(to_tsvector('english', content), 'B')
               ) STORED,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT documents_source_key UNIQUE (source)
);

CREATE INDEX documents_tsv_idx ON documents USING GIN (tsv);
