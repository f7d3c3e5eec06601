"""LLMClient.stream_chat against a real local HTTP server: deltas, reasoning, usage, retries, deadlines."""

from __future__ import annotations

import time

import pytest

from mentor.llm import client as client_mod
from mentor.llm.client import AuthError, LLMClient
from mentor.llm.profiles import build_profile

SECRET = "sk-test-SECRET-0123456789abcdef"
MSG = [{"role": "system", "content": "You are a tutor."}, {"role": "user", "content": "hi"}]


def make(srv, *, deadline_s: float = 5.0, max_retries: int = 3, **over) -> LLMClient:
    prof = build_profile("custom", {"base_url": srv.base_url, "model": "fake-model", "price_cache_hit": 0.07,
                                    "price_cache_miss": 0.27, "price_output": 1.10, **over})
    return LLMClient(prof, deadline_s=deadline_s, max_retries=max_retries, backoff_s=0.01)


def test_content_deltas_stream_in_order(fake_server):
    srv = fake_server([{"content": ["Hel", "lo", " world"]}])
    seen: list[tuple[str, str]] = []
    r = make(srv).stream_chat(MSG, on_delta=lambda k, t: seen.append((k, t)))
    assert r.status == "complete" and r.content == "Hello world" and r.error is None
    assert seen == [("content", "Hel"), ("content", "lo"), ("content", " world")]
    assert r.attempts == 1 and r.finish_reason == "stop" and r.provider == "custom" and r.model == "fake-model"
    body = srv.chat_requests[0]
    assert body["stream"] is True and body["model"] == "fake-model" and body["messages"] == MSG
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_is_separate_under_both_field_names(fake_server, field):
    srv = fake_server([{"reasoning": ["Let me ", "think."], "reasoning_field": field, "content": ["42"]}])
    seen: list[tuple[str, str]] = []
    r = make(srv).stream_chat(MSG, on_delta=lambda k, t: seen.append((k, t)))
    assert r.status == "complete" and r.content == "42" and r.reasoning == "Let me think."
    assert r.reasoning_field == field
    assert seen == [("reasoning", "Let me "), ("reasoning", "think."), ("content", "42")]


def test_keepalive_comments_are_ignored(fake_server):
    srv = fake_server([{"content": ["a", "b"], "keepalive": 3}])
    r = make(srv).stream_chat(MSG)
    assert r.status == "complete" and r.content == "ab"


def test_usage_chunk_with_empty_choices_openai_style(fake_server):
    usage = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
             "prompt_tokens_details": {"cached_tokens": 600}, "completion_tokens_details": {"reasoning_tokens": 50}}
    srv = fake_server([{"content": ["ok"], "usage": usage}])
    r = make(srv).stream_chat(MSG)
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.cached_tokens, r.usage.completion_tokens, r.usage.reasoning_tokens) == (1000, 600, 200, 50)
    assert r.cost_usd == pytest.approx((600 * 0.07 + 400 * 0.27 + 200 * 1.10) / 1e6)


def test_usage_deepseek_cache_hit_field(fake_server):
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "prompt_cache_hit_tokens": 80, "prompt_cache_miss_tokens": 20}
    srv = fake_server([{"content": ["ok"], "usage": usage}])
    r = make(srv).stream_chat(MSG)
    assert r.usage.cached_tokens == 80 and r.usage.reasoning_tokens is None


def test_usage_unknown_when_not_sent(fake_server):
    srv = fake_server([{"content": ["ok"], "usage": None}])
    r = make(srv).stream_chat(MSG)
    assert r.status == "complete" and r.usage is None and r.cost_usd is None


def test_stream_usage_off_sends_no_stream_options(fake_server):
    srv = fake_server([{"content": ["ok"]}])
    r = make(srv, stream_usage=False).stream_chat(MSG)
    assert r.usage is None and "stream_options" not in srv.chat_requests[0]


def test_thinking_switch_and_extra_kwargs_reach_the_request(fake_server):
    srv = fake_server([{"content": ["ok"]}])
    make(srv, thinking_switch="enable_thinking", thinking=False).stream_chat(MSG, temperature=0.2, max_tokens=50)
    body = srv.chat_requests[0]
    assert body["enable_thinking"] is False and body["temperature"] == 0.2 and body["max_tokens"] == 50


def test_429_honours_retry_after(fake_server):
    srv = fake_server([{"status": 429, "headers": {"Retry-After": "1"}}, {"content": ["ok"]}])
    t = time.monotonic()
    r = make(srv).stream_chat(MSG)
    assert r.status == "complete" and r.content == "ok" and r.attempts == 2
    assert time.monotonic() - t >= 0.9  # waited as told, not the 0.01 s backoff


def test_retry_after_is_capped(fake_server, monkeypatch):
    monkeypatch.setattr(client_mod, "RETRY_AFTER_CAP_S", 0.2)
    srv = fake_server([{"status": 429, "headers": {"Retry-After": "3600"}}, {"content": ["ok"]}])
    r = make(srv).stream_chat(MSG)
    assert r.status == "complete" and r.attempts == 2 and r.latency_s < 3


def test_500_then_200_retries(fake_server):
    srv = fake_server([{"status": 500}, {"content": ["fine"]}])
    r = make(srv).stream_chat(MSG)
    assert r.status == "complete" and r.content == "fine" and r.attempts == 2 and len(srv.chat_requests) == 2


def test_persistent_5xx_fails_after_max_retries(fake_server):
    srv = fake_server([{"status": 503}] * 5)
    r = make(srv, max_retries=2).stream_chat(MSG)
    assert r.status == "failed" and r.attempts == 3 and r.http_status == 503 and "503" in r.error
    assert len(srv.chat_requests) == 3


def test_connection_refused_is_a_failed_reply_not_an_exception():
    prof = build_profile("custom", {"base_url": "http://127.0.0.1:9/v1", "model": "m"})
    r = LLMClient(prof, deadline_s=5, max_retries=1, backoff_s=0.01).stream_chat(MSG)
    assert r.status == "failed" and r.attempts == 2 and "connection" in r.error.lower()


def test_midstream_disconnect_keeps_partial_and_does_not_retry(fake_server):
    srv = fake_server([{"content": ["one ", "two ", "three"], "disconnect_after": 2}, {"content": ["retried"]}])
    seen: list[str] = []
    r = make(srv).stream_chat(MSG, on_delta=lambda k, t: seen.append(t))
    assert r.status == "partial" and r.content == "one two " and r.error
    assert r.attempts == 1 and len(srv.chat_requests) == 1 and seen == ["one ", "two "]


def test_slow_drip_past_deadline_is_partial(fake_server):
    srv = fake_server([{"content": ["tok "] * 100, "delay_s": 0.1}])
    r = make(srv, deadline_s=1.0).stream_chat(MSG)
    assert r.status == "partial" and r.content.startswith("tok ") and "deadline" in r.error
    assert 0.9 <= r.latency_s < 3.0


def test_keepalive_comments_cannot_extend_the_deadline(fake_server):
    srv = fake_server([{"content": ["late"], "keepalive": 200, "delay_s": 0.05}])
    r = make(srv, deadline_s=1.0).stream_chat(MSG)
    assert r.status == "failed" and r.content == "" and "deadline" in r.error and r.latency_s < 3.0


def test_silent_server_cannot_hang_past_the_deadline(fake_server):
    srv = fake_server([{"hang_s": 30}])
    r = make(srv, deadline_s=1.0, max_retries=0).stream_chat(MSG)
    assert r.status == "failed" and r.latency_s < 3.0


def test_401_raises_auth_error_naming_the_variable_and_is_not_retried(fake_server, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
    srv = fake_server([{"status": 401, "error": f"Incorrect API key provided: {SECRET}"}, {"content": ["no"]}])
    with pytest.raises(AuthError) as ei:
        make(srv, key_env="DEEPSEEK_API_KEY").stream_chat(MSG)
    assert "DEEPSEEK_API_KEY" in ei.value.message and "mentor config test" in ei.value.hint
    assert SECRET not in str(ei.value)
    assert len(srv.chat_requests) == 1
    assert srv.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"


def test_missing_key_variable_raises_before_any_request(fake_server):
    srv = fake_server()
    with pytest.raises(AuthError, match="DASHSCOPE_API_KEY is not set"):
        make(srv, key_env="DASHSCOPE_API_KEY").stream_chat(MSG)
    assert srv.requests == []


def test_ctrl_c_in_the_middle_ends_as_partial(fake_server):
    srv = fake_server([{"content": ["a", "b", "c", "d"], "delay_s": 0.05}])
    seen: list[str] = []

    def on_delta(kind: str, text: str) -> None:
        seen.append(text)
        if len(seen) == 2:
            raise KeyboardInterrupt

    r = make(srv).stream_chat(MSG, on_delta=on_delta)
    assert r.status == "partial" and r.content == "ab" and r.error == "interrupted"


def test_client_never_mutates_messages(fake_server):
    srv = fake_server([{"reasoning": ["secret thoughts"], "content": ["answer"]}] * 2)
    c = make(srv)
    msgs = [dict(m) for m in MSG]
    c.stream_chat(msgs)
    c.stream_chat(msgs)
    assert msgs == MSG and "secret thoughts" not in str(srv.chat_requests)
