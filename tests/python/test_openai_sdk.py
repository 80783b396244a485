"""The official `openai` Python SDK against mock-llm.

Proves the wire shapes are the ones a real client parses: whole and streamed
completions (with the include_usage chunk), embeddings (the SDK asks for
base64 by default), models, and errors surfacing as the SDK's typed
exceptions, with its retry loop honouring `retry-after-ms`.

`run.sh` starts the server and sets MOCK_LLM_URL; MOCK_LLM_BIN lets a test
start its own instance when it needs different faults.
"""

import json
import math
import os
import re
import subprocess
import time
import urllib.request

import openai
import pytest
from openai import OpenAI

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Why does the p99 grow under load?"},
]


def client_for(base_url, **kwargs):
    kwargs.setdefault("max_retries", 0)
    return OpenAI(base_url=f"{base_url}/v1", api_key="test", timeout=30, **kwargs)


def stats(base_url):
    with urllib.request.urlopen(f"{base_url}/stats", timeout=10) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def base_url():
    return os.environ["MOCK_LLM_URL"]


@pytest.fixture(scope="module")
def client(base_url):
    return client_for(base_url)


def test_a_whole_completion_parses(client):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == MODEL
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason == "stop"
    assert r.usage.completion_tokens > 0
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_a_stream_with_include_usage_ends_with_the_usage_chunk(client):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert [c for c in chunks if c.usage is not None] == [last]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    assert all(f is None for f in finish[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    # The same request, whole, is the same reply with the same usage.
    whole = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert text == whole.choices[0].message.content
    assert last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens


def test_a_stream_without_include_usage_has_no_usage(client):
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    )
    assert chunks
    assert all(c.usage is None for c in chunks)
    assert all(len(c.choices) == 1 for c in chunks)


def test_embeddings_are_deterministic_unit_vectors(client):
    texts = ["postgres pool", "tokio runtime"]
    r = client.embeddings.create(model="text-embedding-3-small", input=texts)
    assert [d.index for d in r.data] == [0, 1]
    first = r.data[0].embedding
    assert len(first) == 384
    assert math.isclose(math.sqrt(sum(x * x for x in first)), 1.0, rel_tol=1e-4)
    assert r.usage.prompt_tokens > 0
    # Default (base64 on the wire) and explicit floats decode to the same vector.
    again = client.embeddings.create(
        model="text-embedding-3-small", input="postgres pool", encoding_format="float"
    )
    assert again.data[0].embedding == pytest.approx(first, abs=1e-7)
    assert r.data[1].embedding != first


def test_models_lists_the_served_model(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["mock-llm"]


def test_a_bad_request_is_the_sdks_bad_request_error(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[])
    assert e.value.status_code == 400


@pytest.fixture
def storm_url(tmp_path):
    """A second mock-llm answering every chat request 429."""
    binary = os.environ["MOCK_LLM_BIN"]
    log_path = tmp_path / "storm.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1:0", "--rate-429", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
    try:
        # Poll the log (never a blocking read) so a silent server fails the
        # test in 10 s instead of hanging it.
        deadline = time.monotonic() + 10
        addr = None
        while addr is None and time.monotonic() < deadline and proc.poll() is None:
            text = re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text())
            m = re.search(r"addr=(127\.0\.0\.1:\d+)", text)
            addr = m.group(1) if m else None
            if addr is None:
                time.sleep(0.05)
        assert addr, f"mock-llm did not report its address: {log_path.read_text()}"
        yield f"http://{addr}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_sdk_retries_429s_as_told_and_the_server_counts_each_attempt(storm_url):
    client = client_for(storm_url, max_retries=2)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    elapsed = time.monotonic() - started
    assert e.value.status_code == 429
    assert e.value.code == "rate_limit_exceeded"
    # Two retries, each after the server's retry-after-ms of 1000.
    assert elapsed >= 1.9, elapsed
    s = stats(storm_url)
    assert s["chat_completions"] == 3
    assert s["rate_limited"]["injected"] == 3
