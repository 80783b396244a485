//! Chat sessions: create, list, view, delete, and who may touch them.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn sessions_are_listed_newest_first_and_paginate_by_cursor_or_offset() {
    let app = app().await;
    let who = user(&app, "judy").await;
    let other = user(&app, "mallory").await;
    create_session(&app, &other, "not judy's").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create_session(&app, &who, &format!("s{i}")).await);
    }
    ids.reverse();
    let r = client()
        .get(format!("{}/api/chat/sessions?limit=2", app.base_url))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    let cursor: i64 = r.headers()["x-next-cursor"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (s, page1) = json_of(r).await;
    assert_eq!(s, StatusCode::OK);
    let page1: Vec<i64> = page1
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page1, ids[0..2]);
    let (_, page2) = bearer(
        &app,
        &who,
        Method::GET,
        &format!("/api/chat/sessions?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    let page2: Vec<i64> = page2
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page2, ids[2..4]);
    let (_, by_offset) = bearer(
        &app,
        &who,
        Method::GET,
        "/api/chat/sessions?limit=10&offset=4",
        None,
    )
    .await;
    assert_eq!(by_offset.as_array().unwrap().len(), 1);
    assert_eq!(by_offset[0]["id"], ids[4]);
    assert_eq!(by_offset[0]["title"], "s0");
    assert!(
        by_offset[0]["created_at"].as_str().unwrap().ends_with('Z'),
        "ISO-8601 UTC"
    );

    for bad in ["limit=0", "limit=101", "limit=abc", "offset=-1", "cursor=x"] {
        let (s, v) = bearer(
            &app,
            &who,
            Method::GET,
            &format!("/api/chat/sessions?{bad}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert_eq!(v["detail"][0]["loc"][0], "query", "{bad}: {v}");
    }
}

#[tokio::test]
async fn another_users_session_is_forbidden_and_a_missing_one_not_found() {
    let app = app().await;
    let owner = user(&app, "olivia").await;
    let intruder = user(&app, "trudy").await;
    let sid = create_session(&app, &owner, "private").await;
    let cases = [
        (Method::GET, format!("/api/chat/sessions/{sid}"), None),
        (Method::DELETE, format!("/api/chat/sessions/{sid}"), None),
        (
            Method::POST,
            format!("/api/chat/sessions/{sid}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (
            Method::POST,
            "/api/chat/chat".to_owned(),
            Some(json!({"content": "hi", "session_id": sid})),
        ),
    ];
    for (method, path, body) in cases.clone() {
        let (s, v) = bearer(&app, &intruder, method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        assert_eq!(v["code"], "session_forbidden");
    }
    for (method, path, body) in cases {
        let path = path.replace(&sid.to_string(), "987654");
        let body = body.map(|mut b| {
            if b.get("session_id").is_some() {
                b["session_id"] = json!(987654);
            }
            b
        });
        let (s, v) = bearer(&app, &owner, method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {v}");
        assert_eq!(v["code"], "session_not_found");
    }
    assert_eq!(count(&app, "messages").await, 0);
}

#[tokio::test]
async fn a_session_shows_its_messages_and_deleting_it_removes_them() {
    let app = app().await;
    let who = user(&app, "peggy").await;
    let sid = create_session(&app, &who, "talk").await;
    for content in ["first", "second"] {
        let (s, v) = bearer(
            &app,
            &who,
            Method::POST,
            &format!("/api/chat/sessions/{sid}/messages"),
            Some(json!({"content": content})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["user_message"]["content"], content);
        assert_eq!(v["assistant_message"]["role"], "assistant");
    }
    let (s, v) = bearer(
        &app,
        &who,
        Method::GET,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["title"], "talk");
    let roles: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(v["messages"][2]["content"], "second");

    let (s, _) = bearer(
        &app,
        &who,
        Method::DELETE,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(count(&app, "messages").await, 0, "messages cascade");
    let (s, _) = bearer(
        &app,
        &who,
        Method::GET,
        &format!("/api/chat/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn session_ids_in_paths_must_be_integers() {
    let app = app().await;
    let who = user(&app, "quinn").await;
    let (s, v) = bearer(&app, &who, Method::GET, "/api/chat/sessions/abc", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["detail"][0]["loc"], json!(["path", "session_id"]));
    let (s, _) = bearer(
        &app,
        &who,
        Method::GET,
        "/api/chat/messages/1.5/sources",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = bearer(
        &app,
        &who,
        Method::POST,
        "/api/chat/sessions",
        Some(json!({"title": "x".repeat(201)})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "title"]));
}
