"""complete_json: json_schema -> json_object -> fenced block fallbacks, and the one repair retry."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from mentor.errors import MentorError
from mentor.llm.client import LLMClient
from mentor.llm.profiles import build_profile
from mentor.llm.structured import extract_json, mode_chain

MSG = [{"role": "system", "content": "You grade answers."}, {"role": "user", "content": "Grade: 2+2=4"}]


class Verdict(BaseModel):
    correct: bool
    score: int
    quote: str


GOOD = json.dumps({"correct": True, "score": 3, "quote": "2+2=4"})


def make(srv, mode: str) -> LLMClient:
    prof = build_profile("custom", {"base_url": srv.base_url, "model": "fake-model", "structured_output": mode})
    return LLMClient(prof, deadline_s=5, max_retries=1, backoff_s=0.01)


def formats(srv) -> list[str | None]:
    return [(b.get("response_format") or {}).get("type") for b in srv.chat_requests]


def test_json_schema_mode_sends_the_schema(fake_server):
    srv = fake_server([{"content": [GOOD[:10], GOOD[10:]]}])
    v = make(srv, "json_schema").complete_json(MSG, Verdict)
    assert isinstance(v, Verdict) and v.correct and v.score == 3
    rf = srv.chat_requests[0]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["properties"]["score"]["type"] == "integer"
    sent = srv.chat_requests[0]["messages"]
    assert sent[0] == MSG[0] and len(sent) == 2  # the instruction goes inside the last user message (roles alternate)
    assert sent[1]["content"].startswith(MSG[1]["content"]) and "Schema:" in sent[1]["content"]
    assert MSG[1]["content"] == "Grade: 2+2=4"  # the caller's messages are not modified


def test_json_schema_rejected_falls_back_to_json_object(fake_server):
    srv = fake_server([{"content": [GOOD]}], accept_formats=["json_object"])
    client = make(srv, "json_schema")
    v = client.complete_json(MSG, Verdict)
    assert v.quote == "2+2=4" and formats(srv) == ["json_schema", "json_object"]  # json_object+schema counts as json_object
    assert [r.status for r in client.last_replies] == ["failed", "complete"]
    assert client.profile.structured_output == "json_object_schema"  # what worked is remembered


def test_no_response_format_falls_back_to_fenced_block(fake_server):
    srv = fake_server([{"content": ["Here you go:\n```json\n", GOOD, "\n```\nHope that helps."]}], accept_formats=[])
    v = make(srv, "json_schema").complete_json(MSG, Verdict)
    assert v.score == 3 and formats(srv) == ["json_schema", "json_object", "json_object", None]
    assert "```json" in srv.chat_requests[-1]["messages"][-1]["content"]


def test_mode_none_never_sends_response_format(fake_server):
    srv = fake_server([{"content": [f"```json\n{GOOD}\n```"]}])
    make(srv, "none").complete_json(MSG, Verdict)
    assert formats(srv) == [None]


def test_invalid_reply_gets_one_repair_retry_without_reasoning(fake_server):
    bad = json.dumps({"correct": "very", "score": 3})
    srv = fake_server([{"reasoning": ["private chain of thought"], "content": [bad]}, {"content": [GOOD]}])
    v = make(srv, "json_object").complete_json(MSG, Verdict)
    assert v.correct is True and len(srv.chat_requests) == 2
    repair = srv.chat_requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": bad}
    assert "quote" in repair[-1]["content"] and "correct" in repair[-1]["content"]  # the validation errors
    assert "private chain of thought" not in json.dumps(srv.chat_requests)


def test_still_invalid_after_repair_raises_mentor_error(fake_server):
    srv = fake_server([{"content": ["not json at all"]}, {"content": ['{"correct": true}']}])
    with pytest.raises(MentorError, match="Verdict"):
        make(srv, "json_object").complete_json(MSG, Verdict)
    assert len(srv.chat_requests) == 2


def test_endpoint_failure_raises_mentor_error(fake_server):
    srv = fake_server([{"status": 500}] * 3)
    with pytest.raises(MentorError, match="HTTP 500"):
        make(srv, "json_object").complete_json(MSG, Verdict)


def test_extract_json_variants():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('text ```json\n{"a": 2}\n``` more') == {"a": 2}
    assert extract_json('``` \n{"a": 3}```') == {"a": 3}
    assert extract_json('Sure! {"a": {"b": 4}} done') == {"a": {"b": 4}}
    with pytest.raises(ValueError):
        extract_json("no json here")


def test_mode_chain():
    assert mode_chain("json_schema") == ["json_schema", "json_object_schema", "json_object", "none"]
    assert mode_chain("json_object_schema") == ["json_object_schema", "json_object", "none"]
    assert mode_chain("json_object") == ["json_object", "none"]
    assert mode_chain("none") == ["none"]
