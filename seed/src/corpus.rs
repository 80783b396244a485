//! `seed corpus`: loads the retriever's markdown corpus (`load-tests/corpus/`)
//! into the `documents` table that `RETRIEVER_PROVIDER=postgres` searches.
//!
//! Each `*.md` file is one document: `# Title` on its first line, the content
//! after it; its file name is its `source`, the key of the upsert. Safe to
//! re-run and to run concurrently: an unchanged file writes nothing, a
//! changed one updates its row in place (one statement decides, so two
//! seeders cannot duplicate a document). Documents whose file was removed are
//! left alone.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use sqlx::PgPool;

use crate::report::{Outcome, Report};

/// One document read from the corpus directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub source: String,
    pub title: String,
    pub content: String,
}

/// Parses one file: `# Title` on the first line, then the content.
pub fn parse(source: &str, text: &str) -> anyhow::Result<Document> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let title = match first.trim().strip_prefix("# ") {
        Some(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => bail!("{source}: the first line must be a `# Title` heading"),
    };
    let content = rest.trim().to_owned();
    if content.is_empty() {
        bail!("{source}: no content after the title");
    }
    Ok(Document {
        source: source.to_owned(),
        title,
        content,
    })
}

/// Reads every `*.md` file of `dir` (not recursively), sorted by name.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Document>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading corpus {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading corpus {}", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|e| e == "md") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        bail!("corpus {} has no .md files", dir.display());
    }
    paths
        .iter()
        .map(|path| {
            let source = path
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("{}: file name is not UTF-8", path.display()))?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse(source, &text)
        })
        .collect()
}

/// Inserts the document, updates it if its title or content changed, or
/// leaves it alone; says which.
async fn upsert(pool: &PgPool, doc: &Document) -> anyhow::Result<Outcome> {
    // No row back: the existing row already held this text. `xmax = 0` tells
    // a fresh insert from an update of an existing row (never NULL: the `!`
    // tells the compile-time checker so).
    let inserted: Option<bool> = sqlx::query_scalar!(
        r#"INSERT INTO documents (source, title, content) VALUES ($1, $2, $3)
           ON CONFLICT (source) DO UPDATE
               SET title = EXCLUDED.title, content = EXCLUDED.content, updated_at = now()
               WHERE documents.title IS DISTINCT FROM EXCLUDED.title
                  OR documents.content IS DISTINCT FROM EXCLUDED.content
           RETURNING (xmax = 0) AS "inserted!""#,
        doc.source,
        doc.title,
        doc.content,
    )
    .fetch_optional(pool)
    .await
    .with_context(|| format!("upserting {}", doc.source))?;
    Ok(match inserted {
        Some(true) => Outcome::Created,
        Some(false) => Outcome::Updated,
        None => Outcome::Unchanged,
    })
}

/// Connects, checks the target is a test database (unless allowed), applies
/// migrations, then upserts every document.
pub async fn run(
    database_url: &str,
    docs: &[Document],
    allow_non_test: bool,
) -> anyhow::Result<Report> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await
        .context("connecting to DATABASE_URL")?;
    crate::db_mode::guard(&pool, allow_non_test).await?;
    backend::db::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let mut report = Report::default();
    for doc in docs {
        report.add(upsert(&pool, doc).await?);
    }
    pool.close().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn title_then_content() {
        let d = parse("a.md", "# Pool sizing\n\nSize the pool.\nTo the cores.\n").unwrap();
        assert_eq!(d.title, "Pool sizing");
        assert_eq!(d.content, "Size the pool.\nTo the cores.");
        assert_eq!(d.source, "a.md");
    }

    #[test]
    fn a_file_without_title_or_content_is_refused() {
        assert!(parse("a.md", "Pool sizing\n\ntext").is_err());
        assert!(parse("a.md", "#  \n\ntext").is_err());
        assert!(parse("a.md", "# Title only\n\n").is_err());
    }
}
