//! Ranked Postgres full-text search over the `documents` table
//! (`RETRIEVER_PROVIDER=postgres`, corpus filled by `seed corpus`).
//!
//! The question is parsed with `plainto_tsquery('english', ..)` (so it is
//! stemmed, stripped of stop words and never a syntax error), then its terms
//! are OR-ed: a natural-language question rarely shares *all* its words
//! with the right document, so AND semantics would find nothing. Documents
//! are ranked with `ts_rank_cd` over the generated `tsv` column, where the
//! title carries weight A (1.0) and the content weight B (0.4), so a title
//! match counts more; ties are broken by id so the order is deterministic.
//! A question made only of stop words or punctuation yields an empty query
//! and no sources, not an error.
//!
//! The OR-ed query is built by casting text to `tsquery` (not by
//! `to_tsquery('english', ..)`), so the already-stemmed lexemes are not
//! stemmed a second time. Only the few ranked rows get a `ts_headline`
//! snippet, the expensive part.
//!
//! The statement is checked at compile time against the migrations
//! (`sqlx::query_as!`, offline data in `.sqlx/`).

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::PgPool;

use super::{Retriever, Source};

/// Full-text retrieval from the `documents` table.
pub struct PgRetriever {
    pool: PgPool,
}

impl PgRetriever {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

struct Row {
    id: i64,
    source: String,
    title: String,
    score: f64,
    snippet: String,
}

#[async_trait]
impl Retriever for PgRetriever {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn retrieve(&self, query: &str, limit: usize) -> anyhow::Result<Vec<Source>> {
        if limit == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The search, ranking and snippet in one statement: `$1` the user's
        // text, `$2` the number of documents wanted. The `!` on the output
        // columns says they are never NULL, which the checker cannot see
        // through the CTEs: each is a NOT NULL column of `documents` or a
        // function of them.
        let rows: Vec<Row> = sqlx::query_as!(
            Row,
            r#"
WITH q AS (
    SELECT replace(plainto_tsquery('english', $1)::text, ' & ', ' | ')::tsquery AS query
),
ranked AS (
    SELECT d.id, d.source, d.title, d.content,
           ts_rank_cd(d.tsv, q.query, 32)::float8 AS score,
           q.query
    FROM documents d, q
    WHERE numnode(q.query) > 0 AND d.tsv @@ q.query
    ORDER BY score DESC, d.id
    LIMIT $2
)
SELECT id AS "id!", source AS "source!", title AS "title!", score AS "score!",
       ts_headline('english', content, query,
                   'MaxWords=30, MinWords=12, ShortWord=3, MaxFragments=1, StartSel="", StopSel=""')
           AS "snippet!"
FROM ranked
ORDER BY score DESC, id
"#,
            query,
            limit,
        )
        .fetch_all(&self.pool)
        .await
        .context("full-text search over documents")?;
        Ok(rows
            .into_iter()
            .map(|r| Source {
                document_id: Some(r.id),
                source: r.source,
                title: r.title,
                snippet: r.snippet,
                score: r.score,
            })
            .collect())
    }
}
