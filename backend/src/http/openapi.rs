//! The OpenAPI 3.1 document, served at `/api/openapi.json` in every
//! environment. Written out by hand from the contract in DESIGN.md; a test
//! checks that every route the router serves is documented here.

use axum::extract::State;
use serde_json::{json, Value};

use crate::extract::Json;
use crate::state::AppState;

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn form() -> Value {
    json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/LoginForm"}}}})
}

fn ok(schema: &str) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn op(summary: &str, tag: &str, secured: bool, request: Option<Value>, response: &str) -> Value {
    let mut responses = json!({
        "200": ok(response),
        "422": {"description": "Validation error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}}},
        "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    });
    if secured {
        responses["401"] = json!({"description": "Not authenticated", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    }
    let mut o = json!({"summary": summary, "tags": [tag], "responses": responses});
    if secured {
        o["security"] = json!([{"bearer": []}, {"cookie": [], "csrf": []}]);
    }
    if let Some(r) = request {
        o["requestBody"] = r;
    }
    o
}

fn id_param(name: &str) -> Value {
    json!([{"name": name, "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}])
}

pub fn document(version: &str) -> Value {
    let mut session_by_id = json!({
        "get": op("A session with its messages", "chat", true, None, "SessionWithMessages"),
        "delete": op("Delete a session and its messages", "chat", true, None, "Status"),
    });
    session_by_id["parameters"] = id_param("session_id");
    let mut session_messages = json!({
        "post": op("A chat turn in a session", "chat", true, Some(body("SessionTurnRequest")), "TurnResponse"),
    });
    session_messages["parameters"] = id_param("session_id");
    let mut sources =
        json!({"get": op("Sources cited by a message", "chat", true, None, "Sources")});
    sources["parameters"] = id_param("message_id");
    let mut list = op(
        "The caller's sessions, newest first",
        "chat",
        true,
        None,
        "SessionList",
    );
    list["parameters"] = json!([
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        {"name": "cursor", "in": "query", "schema": {"type": "integer"}, "description": "id of the last session of the previous page (see X-Next-Cursor)"},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    ]);

    json!({
        "openapi": "3.1.0",
        "info": {"title": "chatbench reference chatbot API", "version": version},
        "paths": {
            "/api/health": {"get": op("Readiness, environment and database state (503 when degraded)", "ops", false, None, "Health")},
            "/health": {"get": op("Alias of /api/health", "ops", false, None, "Health")},
            "/api/health/live": {"get": op("Liveness; never touches the database", "ops", false, None, "Status")},
            "/livez": {"get": op("Alias of /api/health/live", "ops", false, None, "Status")},
            "/api/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["ops"], "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}}}},
            "/metrics": {"get": {"summary": "Alias of /api/metrics", "tags": ["ops"], "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}}}},
            "/api/metrics/db-pool": {"get": op("Database pool figures", "ops", false, None, "DbPool")},
            "/api/stats": {"get": op("Row counts and provider statistics", "ops", false, None, "Stats")},
            "/stats": {"get": op("Alias of /api/stats", "ops", false, None, "Stats")},
            "/api/openapi.json": {"get": {"summary": "This document", "tags": ["ops"], "responses": {"200": {"description": "OpenAPI document"}}}},
            "/api/auth/register": {"post": op("Register an account", "auth", false, Some(body("RegisterRequest")), "Registered")},
            "/api/auth/login-json": {"post": op("Log in with JSON; sets the access_token cookie", "auth", false, Some(body("LoginRequest")), "LoginResponse")},
            "/api/auth/login": {"post": op("Log in with the OAuth2 form; sets the cookie", "auth", false, Some(form()), "LoginResponse")},
            "/api/auth/token": {"post": op("OAuth2 password flow: bearer token, no cookie", "auth", false, Some(form()), "TokenResponse")},
            "/api/auth/logout": {"post": op("Clear the cookie", "auth", false, None, "Status")},
            "/api/auth/me": {"get": op("The caller", "auth", true, None, "Me")},
            "/api/chat/sessions": {
                "post": op("Create a session", "chat", true, Some(body("NewSession")), "Session"),
                "get": list,
            },
            "/api/chat/sessions/{session_id}": session_by_id,
            "/api/chat/sessions/{session_id}/messages": session_messages,
            "/api/chat/chat": {"post": op("A chat turn; no session_id creates a session", "chat", true, Some(body("ChatRequest")), "TurnResponse")},
            "/api/chat/stream": {"post": {
                "summary": "A chat turn streamed as server-sent events: token events, then done (or error)",
                "tags": ["chat"],
                "security": [{"bearer": []}, {"cookie": [], "csrf": []}],
                "requestBody": body("ChatRequest"),
                "responses": {
                    "200": {"description": "text/event-stream of `data: {json}` frames: {\"type\":\"token\",\"token\"}, then {\"type\":\"done\",\"session_id\",\"message_id\",\"user_message_id\",\"sources\",\"usage\"} or {\"type\":\"error\",\"message\",\"code\"}", "content": {"text/event-stream": {}}},
                    "default": {"description": "Error before the stream starts", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                },
            }},
            "/api/chat/feedback": {"post": op("Rate a message", "chat", true, Some(body("FeedbackRequest")), "Status")},
            "/api/chat/messages/{message_id}/sources": sources,
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "access_token"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token", "description": "Required with the cookie on POST/PUT/PATCH/DELETE"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["detail", "code"], "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}},
                "ValidationError": {"type": "object", "required": ["detail", "code"], "properties": {"code": {"const": "validation_error"}, "detail": {"type": "array", "items": {"type": "object", "required": ["loc", "msg", "type"], "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}, "type": {"type": "string"}}}}}},
                "Status": {"type": "object"},
                "Health": {"type": "object", "required": ["status", "app_env", "version", "database"], "properties": {"status": {"enum": ["ok", "degraded"]}, "message": {"type": "string"}, "app_env": {"type": "string"}, "environment": {"type": "string"}, "version": {"type": "string"}, "database": {"type": "string"}}},
                "RegisterRequest": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string", "minLength": 3, "maxLength": 50}, "email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 8, "maxLength": 128}}},
                "Registered": {"type": "object", "required": ["message", "id", "username"], "properties": {"message": {"type": "string"}, "id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": ["string", "null"]}}},
                "LoginRequest": {"type": "object", "required": ["password"], "properties": {"username": {"type": "string", "description": "username or e-mail"}, "email": {"type": "string"}, "password": {"type": "string"}}},
                "LoginForm": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string"}, "grant_type": {"type": "string"}}},
                "LoginResponse": {"type": "object", "required": ["user_id", "username", "status", "access_token", "token_type", "expires_in", "csrf_token"], "properties": {"user_id": {"type": "integer"}, "username": {"type": "string"}, "status": {"const": "success"}, "access_token": {"type": "string"}, "token_type": {"const": "bearer"}, "expires_in": {"type": "integer"}, "csrf_token": {"type": "string"}}},
                "TokenResponse": {"type": "object", "required": ["access_token", "token_type", "expires_in"], "properties": {"access_token": {"type": "string"}, "token_type": {"const": "bearer"}, "expires_in": {"type": "integer"}}},
                "Me": {"type": "object", "required": ["id", "username"], "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": ["string", "null"]}}},
                "NewSession": {"type": "object", "properties": {"title": {"type": "string", "maxLength": 200}}},
                "Session": {"type": "object", "required": ["id", "title", "created_at"], "properties": {"id": {"type": "integer"}, "title": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "SessionList": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}},
                "SessionWithMessages": {"allOf": [{"$ref": "#/components/schemas/Session"}, {"type": "object", "properties": {"messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}}}]},
                "Message": {"type": "object", "required": ["id", "session_id", "role", "content", "metadata", "created_at"], "properties": {"id": {"type": "integer"}, "session_id": {"type": "integer"}, "role": {"enum": ["user", "assistant", "system"]}, "content": {"type": "string"}, "metadata": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"}}},
                "ChatRequest": {"type": "object", "required": ["content"], "properties": {"content": {"type": "string", "minLength": 1}, "session_id": {"type": "integer"}}},
                "SessionTurnRequest": {"type": "object", "required": ["content"], "properties": {"content": {"type": "string", "minLength": 1}}},
                "TurnResponse": {"type": "object", "required": ["session_id", "user_message", "assistant_message"], "properties": {"session_id": {"type": "integer"}, "user_message": {"$ref": "#/components/schemas/Message"}, "assistant_message": {"$ref": "#/components/schemas/Message"}}},
                "FeedbackRequest": {"type": "object", "required": ["message_id", "rating"], "properties": {"message_id": {"type": "integer"}, "rating": {"type": "integer", "minimum": -1, "maximum": 5}, "comment": {"type": "string", "maxLength": 2000}}},
                "Sources": {"type": "object", "required": ["message_id", "sources"], "properties": {"message_id": {"type": "integer"}, "sources": {"type": "array"}}},
                "DbPool": {"type": "object", "properties": {"size": {"type": "integer"}, "checked_out": {"type": "integer"}, "checked_in": {"type": "integer"}, "max_size": {"type": "integer"}, "usage_ratio": {"type": "number"}}},
                "Stats": {"type": "object"},
            }
        }
    })
}

pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(document(&state.config.version))
}
