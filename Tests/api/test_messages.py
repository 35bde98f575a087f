"""POST /v1/messages and /v1/messages/count_tokens (Anthropic's Messages API) through the official
anthropic client: the answer is the one chat gives for the same conversation (system prompt,
text blocks, tool_use and tool_result blocks as chat's tool turns), streamed events add up to the
whole Message, stop sequences and max_tokens give their stop reasons, tools and structured output
come through, keys are read from x-api-key, and every malformed request is a 400 in Anthropic's
error envelope naming the Messages field."""
import json

import jsonschema
import pytest

from conftest import raw_post

QWEN = "qwen2.5-coder-1.5b"
T0 = {"temperature": 0}  # the SDK of 2026 has no sampling arguments (Claude's newest models take none); the API takes them
WEATHER = {"name": "get_weather", "description": "Get the current weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CHAT_WEATHER = {"type": "function", "function": {"name": WEATHER["name"], "description": WEATHER["description"],
                                                 "parameters": WEATHER["input_schema"]}}


def anthropic_client(server, api_key="unused"):
    import anthropic
    return anthropic.Anthropic(base_url=server.base, api_key=api_key, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def claude(server):
    return anthropic_client(server)


@pytest.fixture(scope="module")
def qwen_claude(qwen_server):
    return anthropic_client(qwen_server)


def chat(client, messages, **kw):
    r = client.chat.completions.create(model=kw.pop("model", "default"), messages=messages, temperature=0, **kw)
    chat.model = r.model
    return r.choices[0], r.usage


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


def tool_uses(message):
    return [(b.name, b.input) for b in message.content if b.type == "tool_use"]


def assert_anthropic_error(status, data, want_status, want_type, field=None):
    assert status == want_status, (status, data)
    assert isinstance(data, dict) and data.get("type") == "error" and set(data) == {"type", "error"}, data
    assert set(data["error"]) == {"type", "message"} and data["error"]["type"] == want_type, data
    if field is not None:
        assert f"`{field}" in data["error"]["message"], data
    return data["error"]["message"]


def test_answer_and_usage_equal_chat_for_the_same_conversation(claude, client):
    m = claude.messages.create(model="default", system="Answer in one sentence.", max_tokens=24, extra_body=T0,
                               messages=[{"role": "user", "content": "Why is the sky blue?"}])
    choice, usage = chat(client, [{"role": "system", "content": "Answer in one sentence."},
                                  {"role": "user", "content": "Why is the sky blue?"}], max_tokens=24)
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_")
    assert m.model == chat.model and text_of(m) == choice.message.content and [b.type for b in m.content] == ["text"]
    # Anthropic counts the prompt as read from the cache plus the rest.
    assert m.usage.input_tokens + m.usage.cache_read_input_tokens == usage.prompt_tokens
    assert m.usage.cache_creation_input_tokens == 0 and m.usage.output_tokens == usage.completion_tokens
    assert m.stop_reason == ("max_tokens" if choice.finish_reason == "length" else "end_turn") and m.stop_sequence is None


def test_a_repeated_prompt_is_read_from_the_cache(claude):
    args = dict(model="default", max_tokens=4, extra_body=T0,
                messages=[{"role": "user", "content": "Tell me about the history of the printing press in Europe. " * 6}])
    first = claude.messages.create(**args)
    second = claude.messages.create(**args)
    total = first.usage.input_tokens + first.usage.cache_read_input_tokens
    assert second.usage.input_tokens + second.usage.cache_read_input_tokens == total
    assert second.usage.cache_read_input_tokens > total // 2, second.usage


def test_stream_events_add_up_to_the_whole_message(claude):
    args = dict(model="default", max_tokens=30, extra_body=T0, messages=[{"role": "user", "content": "Name three colors."}])
    whole = claude.messages.create(**args)
    with claude.messages.stream(**args) as s:
        streamed_text = "".join(s.text_stream)
        final = s.get_final_message()
    assert streamed_text == text_of(whole) == text_of(final)
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in whole.content]
    assert (final.stop_reason, final.usage.output_tokens) == (whole.stop_reason, whole.usage.output_tokens)
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens == whole.usage.input_tokens + whole.usage.cache_read_input_tokens
    events = [e.type for e in claude.messages.create(stream=True, **args)]
    assert events[0] == "message_start" and events[1] == "content_block_start"
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[2:-3]) == {"content_block_delta"}


def test_raw_stream_names_each_event_and_pings_once(server):
    status, headers, text = raw_post(server, "/v1/messages", {"model": "default", "max_tokens": 5, "stream": True,
                                                             "messages": [{"role": "user", "content": "Hi"}]})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert text.endswith("\n\n") and "[DONE]" not in text
    names = []
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = json.loads(lines[1][6:])
        assert data["type"] == lines[0][7:], block
        names.append(data["type"])
    assert names[:2] == ["message_start", "ping"] and names.count("ping") == 1 and names[-1] == "message_stop"


def test_a_stop_sequence_ends_the_answer_and_is_named(claude, client):
    args = dict(model="default", max_tokens=40, extra_body=T0, messages=[{"role": "user", "content": "Count from one to ten in words."}])
    text = text_of(claude.messages.create(**args))
    word = text.split()[2].strip(",.")
    m = claude.messages.create(stop_sequences=[word, "zzzz"], **args)
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == word
    assert text_of(m) == text[:text.index(word)]
    with claude.messages.stream(stop_sequences=[word], **args) as s:
        final = s.get_final_message()
    assert (final.stop_reason, final.stop_sequence, text_of(final)) == ("stop_sequence", word, text_of(m))
    choice, _ = chat(client, args["messages"], max_tokens=40, stop=[word])
    assert choice.message.content == text_of(m)


def test_max_tokens_cuts_the_answer(claude):
    m = claude.messages.create(model="default", max_tokens=5, extra_body=T0,
                               messages=[{"role": "user", "content": "Count from one to fifty in words."}])
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 5 and m.stop_sequence is None
    m = claude.messages.create(model="default", max_tokens=200, extra_body=T0, messages=[{"role": "user", "content": "Say yes."}])
    assert m.stop_reason == "end_turn" and m.usage.output_tokens < 200


def test_a_final_assistant_message_is_continued_as_chat_continues_it(claude, client):
    msgs = [{"role": "user", "content": "Name a large animal."}, {"role": "assistant", "content": "The largest animal is the"}]
    m = claude.messages.create(model="default", max_tokens=12, extra_body=T0, messages=msgs)
    choice, usage = chat(client, msgs, max_tokens=12)
    assert text_of(m) == choice.message.content and m.usage.output_tokens == usage.completion_tokens


def test_blocks_system_blocks_and_documents_render_as_chat_parts(server, claude, client):
    blocks = [{"type": "text", "text": "Read this.", "cache_control": {"type": "ephemeral"}},
              {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Cats sleep a lot."},
               "title": "Cats"}]
    body = dict(model="default", system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
                messages=[{"role": "user", "content": blocks}])
    count = claude.messages.count_tokens(**body).input_tokens
    m = claude.messages.create(max_tokens=8, extra_body=T0, **body)
    choice, usage = chat(client, [{"role": "system", "content": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}]},
                                  {"role": "user", "content": [{"type": "text", "text": "Read this."},
                                                               {"type": "text", "text": "Cats\n\nCats sleep a lot."}]}], max_tokens=8)
    assert count == usage.prompt_tokens == m.usage.input_tokens + m.usage.cache_read_input_tokens
    assert text_of(m) == choice.message.content


def test_count_tokens_is_the_prompt_of_the_same_request(claude):
    body = dict(model="default", system="You are terse.", messages=[{"role": "user", "content": "What is two plus two?"}])
    count = claude.messages.count_tokens(**body)
    m = claude.messages.create(max_tokens=3, **body)
    assert count.input_tokens == m.usage.input_tokens + m.usage.cache_read_input_tokens > 5


def test_tool_use_streamed_and_whole_and_answered(qwen_claude, qwen_client):
    msgs = [{"role": "user", "content": "What's the weather like in Paris right now?"}]
    # Marks for Anthropic's platform change nothing in how the tool is offered.
    tool = dict(WEATHER, defer_loading=False, eager_input_streaming=True, input_examples=[{"city": "Oslo"}],
                cache_control={"type": "ephemeral", "ttl": "1h"})
    args = dict(model=QWEN, tools=[tool], extra_body=T0, max_tokens=60, messages=msgs)
    m = qwen_claude.messages.create(**args)
    assert tool_uses(m) == [("get_weather", {"city": "Paris"})] and m.stop_reason == "tool_use"
    use = [b for b in m.content if b.type == "tool_use"][0]
    assert use.id.startswith("toolu_"), use.id  # Anthropic's form of the id
    choice, _ = chat(qwen_client, msgs, model=QWEN, tools=[CHAT_WEATHER], max_tokens=60)
    assert [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls] == tool_uses(m)
    with qwen_claude.messages.stream(**args) as s:
        kinds = [e.type for e in s]
        final = s.get_final_message()
    assert tool_uses(final) == tool_uses(m) and final.stop_reason == "tool_use"
    assert "input_json" in kinds or "content_block_delta" in kinds
    # The call and its result given back: the same prompt, and answer, as chat's tool turn.
    result = json.dumps({"temperature_c": 18, "sky": "cloudy"})
    followup = msgs + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}]}]
    m2 = qwen_claude.messages.create(**dict(args, messages=followup, max_tokens=40))
    chat_msgs = msgs + [{"role": "assistant", "content": text_of(m) or None, "tool_calls": [
        {"id": use.id, "type": "function", "function": {"name": use.name, "arguments": json.dumps(use.input, separators=(",", ":"))}}]},
        {"role": "tool", "tool_call_id": use.id, "content": result}]
    c2, u2 = chat(qwen_client, chat_msgs, model=QWEN, tools=[CHAT_WEATHER], max_tokens=40)
    assert m2.usage.input_tokens + m2.usage.cache_read_input_tokens == u2.prompt_tokens
    assert text_of(m2) == (c2.message.content or "")


def test_tool_choice_tool_and_any_force_a_call(qwen_claude):
    for choice in ({"type": "tool", "name": "get_weather"}, {"type": "any"}):
        m = qwen_claude.messages.create(model=QWEN, tools=[WEATHER], tool_choice=choice, extra_body=T0, max_tokens=40,
                                        messages=[{"role": "user", "content": "Hello there"}])
        [(name, tool_input)] = tool_uses(m)
        assert name == "get_weather" and isinstance(tool_input["city"], str) and m.stop_reason == "tool_use"
    m = qwen_claude.messages.create(model=QWEN, tools=[WEATHER], tool_choice={"type": "none"}, extra_body=T0, max_tokens=30,
                                    messages=[{"role": "user", "content": "What's the weather like in Paris right now?"}])
    assert tool_uses(m) == [] and m.stop_reason in ("end_turn", "max_tokens")


def test_a_json_schema_output_format_holds(claude):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    for field in ({"output_format": {"type": "json_schema", "schema": schema}},
                  {"output_config": {"format": {"type": "json_schema", "schema": schema}, "effort": "low"}}):
        m = claude.messages.create(model="default", max_tokens=60, extra_body=dict(field, temperature=0),
                                   messages=[{"role": "user", "content": "Invent a person with a name and an age."}])
        assert m.stop_reason == "end_turn", m
        jsonschema.validate(json.loads(text_of(m)), schema)


def test_thinking_metadata_and_tiers_are_accepted(claude):
    m = claude.messages.create(model="default", max_tokens=4, messages=[{"role": "user", "content": "Hi"}],
                               thinking={"type": "disabled"}, metadata={"user_id": "u-1"}, service_tier="auto",
                               extra_body={"top_k": 5, "top_p": 0.9})
    assert [b.type for b in m.content] in (["text"], [])
    m = claude.messages.create(model="default", max_tokens=4, messages=[{"role": "user", "content": "Hi"}],
                               thinking={"type": "enabled", "budget_tokens": 1024})
    assert all(b.type == "text" for b in m.content)


def test_every_answer_validates_against_the_sdk_types(server):
    from anthropic.types import Message, RawMessageStreamEvent
    from pydantic import TypeAdapter
    events = TypeAdapter(RawMessageStreamEvent)
    for max_tokens in (200, 2):
        body = {"model": "default", "max_tokens": max_tokens, "temperature": 0, "messages": [{"role": "user", "content": "Say yes."}]}
        status, _, data = server.request("POST", "/v1/messages", body)
        assert status == 200
        Message.model_validate(data, strict=True)
        status, _, text = raw_post(server, "/v1/messages", dict(body, stream=True))
        for block in text.strip().split("\n\n"):
            data = json.loads(block.split("\n")[1][6:])
            if data["type"] != "ping":
                events.validate_python(data)


def test_max_tokens_zero_warms_the_cache_and_answers_nothing(claude):
    body = dict(model="default", messages=[{"role": "user", "content": "Summarize the plot of a long novel about whales. " * 8}])
    warm = claude.messages.create(max_tokens=0, **body)
    assert warm.content == [] and warm.stop_reason == "max_tokens" and warm.usage.output_tokens == 0
    with claude.messages.stream(max_tokens=0, **body) as s:
        assert list(s.text_stream) == [] and s.get_final_message().content == []
    m = claude.messages.create(max_tokens=3, **body)
    total = m.usage.input_tokens + m.usage.cache_read_input_tokens
    assert total == warm.usage.input_tokens + warm.usage.cache_read_input_tokens
    assert m.usage.cache_read_input_tokens > total // 2, m.usage


def test_max_tokens_past_the_context_stops_at_the_window(short_server):
    # Claude Code asks for 32,000 tokens; the context here is 512: the answer stops where it ends.
    prompt = "word " * 440
    status, _, data = short_server.request("POST", "/v1/messages", {"model": "default", "max_tokens": 32000, "messages": [
        {"role": "user", "content": prompt}], "temperature": 0, "ignore_eos": True})
    assert status == 200, data
    assert data["stop_reason"] == "model_context_window_exceeded", data["stop_reason"]
    used = data["usage"]["input_tokens"] + data["usage"]["cache_read_input_tokens"] + data["usage"]["output_tokens"]
    assert 480 < used <= 512 and data["usage"]["output_tokens"] > 20, data["usage"]
    status, _, data = short_server.request("POST", "/v1/messages", {"model": "default", "max_tokens": 5, "messages": MSG, "temperature": 0})
    assert data["stop_reason"] in ("max_tokens", "end_turn")


def test_platform_settings_are_accepted(server):
    status, _, data = server.request("POST", "/v1/messages", {
        "model": "default", "max_tokens": 3, "messages": MSG, "cache_control": {"type": "ephemeral"}, "speed": "fast",
        "inference_geo": "us", "workspace_id": "wrkspc_1", "user_profile_id": "p", "output_config": {"effort": "xhigh"},
        "thinking": {"type": "adaptive", "display": "omitted"}})
    assert status == 200 and data["type"] == "message", data


def test_a_system_message_among_the_turns_is_chat_s_system_message(claude, client):
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
            {"role": "system", "content": [{"type": "text", "text": "Be concise."}]}, {"role": "user", "content": "Bye"}]
    m = claude.messages.create(model="default", max_tokens=10, extra_body=T0, messages=msgs)
    choice, usage = chat(client, [dict(x) if x["role"] != "system" else {"role": "system", "content": "Be concise."} for x in msgs],
                         max_tokens=10)
    assert text_of(m) == choice.message.content
    assert m.usage.input_tokens + m.usage.cache_read_input_tokens == usage.prompt_tokens


def test_claude_code_s_billing_header_block_is_left_out_so_turns_share_the_cache(claude):
    system = [{"type": "text", "text": "You are a careful coding assistant. " * 20}]
    plain = claude.messages.count_tokens(model="default", system=system, messages=MSG).input_tokens
    for cch in ("fa690", "b12c3"):
        header = {"type": "text", "text": f"x-anthropic-billing-header: cc_version=2.1.37.0d9; cc_entrypoint=cli; cch={cch};"}
        assert claude.messages.count_tokens(model="default", system=[header] + system, messages=MSG).input_tokens == plain
        m = claude.messages.create(model="default", max_tokens=2, system=[header] + system, messages=MSG)
    assert m.usage.cache_read_input_tokens > plain // 2, m.usage


def test_claude_code_s_context_management_is_accepted(server):
    cm = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"},
                    {"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 2}}]}
    for path, extra in (("/v1/messages?beta=true", {"max_tokens": 3}), ("/v1/messages/count_tokens?beta=true", {})):
        status, _, data = server.request("POST", path, dict({"model": "default", "messages": MSG, "context_management": cm,
                                                             "thinking": {"type": "adaptive"}}, **extra))
        assert status == 200, data


def tool_session(n):
    """A conversation of `n` tool uses (the second an `ls`, the others `read`), each answered."""
    msgs = [{"role": "user", "content": "Read the files."}]
    for i in range(n):
        name = "ls" if i == 1 else "read"
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": f"Step {i}."},
                                                       {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {"path": f"f{i}.txt"}}]})
        msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": f"file {i} line. " * 30}]})
    return msgs


READ_TOOLS = [{"name": "read", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
              {"name": "ls", "description": "List files", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}]
CLEARED = "[Tool result cleared to save context.]"


def cleared_by_hand(msgs, ids, inputs=()):
    """The conversation with the results of `ids` replaced by the placeholder and the inputs of `inputs` by {}."""
    out = json.loads(json.dumps(msgs))
    for m in out:
        for b in m["content"] if isinstance(m["content"], list) else []:
            if b["type"] == "tool_result" and b["tool_use_id"] in ids:
                b["content"] = CLEARED
            if b["type"] == "tool_use" and b["id"] in inputs:
                b["input"] = {}
    return out


def test_old_tool_results_are_cleared_past_the_trigger(qwen_server, qwen_claude):
    msgs = tool_session(5)
    count = lambda **kw: qwen_claude.messages.count_tokens(model=QWEN, tools=READ_TOOLS, **kw).input_tokens  # noqa: E731
    whole = count(messages=msgs)
    # The defaults (100,000 tokens) leave a short conversation alone, and say so.
    status, _, data = qwen_server.request("POST", "/v1/messages/count_tokens", {
        "model": QWEN, "tools": READ_TOOLS, "messages": msgs, "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}})
    assert status == 200 and data == {"input_tokens": whole, "context_management": {"original_input_tokens": whole}}, data
    # Past a trigger of 2 tool uses, keeping 1, `ls` excluded, `read` calls losing their inputs: uses 0, 2 and 3
    # go, and the prompt is the one of the conversation cleared by hand.
    cm = {"edits": [{"type": "clear_tool_uses_20250919", "trigger": {"type": "tool_uses", "value": 2},
                     "keep": {"type": "tool_uses", "value": 1}, "exclude_tools": ["ls"], "clear_tool_inputs": ["read"]}]}
    by_hand = count(messages=cleared_by_hand(msgs, {"toolu_0", "toolu_2", "toolu_3"}, {"toolu_0", "toolu_2", "toolu_3"}))
    assert by_hand < whole
    status, _, data = qwen_server.request("POST", "/v1/messages/count_tokens", {
        "model": QWEN, "tools": READ_TOOLS, "messages": msgs, "context_management": cm})
    assert data == {"input_tokens": by_hand, "context_management": {"original_input_tokens": whole}}, data
    edit = {"type": "clear_tool_uses_20250919", "cleared_tool_uses": 3, "cleared_input_tokens": whole - by_hand}
    m = qwen_claude.beta.messages.create(model=QWEN, max_tokens=4, tools=READ_TOOLS, messages=msgs, context_management=cm,
                                         betas=["context-management-2025-06-27"], extra_body=T0)
    assert m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0) == by_hand, m.usage
    assert m.context_management.applied_edits[0].model_dump() == edit, m.context_management
    # The answer is the one to the conversation cleared by hand; streamed, message_delta carries the edit.
    plain = qwen_claude.messages.create(model=QWEN, max_tokens=4, tools=READ_TOOLS, extra_body=T0,
                                        messages=cleared_by_hand(msgs, {"toolu_0", "toolu_2", "toolu_3"}, {"toolu_0", "toolu_2", "toolu_3"}))
    assert [b.model_dump(exclude={"id"}) for b in m.content] == [b.model_dump(exclude={"id"}) for b in plain.content]
    with qwen_claude.beta.messages.stream(model=QWEN, max_tokens=4, tools=READ_TOOLS, messages=msgs, context_management=cm,
                                          betas=["context-management-2025-06-27"], extra_body=T0) as s:
        final = s.get_final_message()
    assert final.context_management.applied_edits[0].model_dump() == edit
    # By prompt tokens, with the default keep of 3 and every tool's input kept: uses 0 and 1 go.
    cm = {"edits": [{"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": whole - 1}}]}
    status, _, data = qwen_server.request("POST", "/v1/messages/count_tokens", {
        "model": QWEN, "tools": READ_TOOLS, "messages": msgs, "context_management": cm})
    assert data["input_tokens"] == count(messages=cleared_by_hand(msgs, {"toolu_0", "toolu_1"})) < whole, data
    # Under the trigger, or clearing less than clear_at_least: nothing changes.
    for edit in ({"trigger": {"type": "input_tokens", "value": whole}},
                 {"trigger": {"type": "input_tokens", "value": 10}, "clear_at_least": {"type": "input_tokens", "value": whole}}):
        status, _, data = qwen_server.request("POST", "/v1/messages", {
            "model": QWEN, "max_tokens": 1, "tools": READ_TOOLS, "messages": msgs,
            "context_management": {"edits": [dict({"type": "clear_tool_uses_20250919"}, **edit)]}})
        assert status == 200 and data["context_management"] == {"applied_edits": []}, data
        assert data["usage"]["input_tokens"] + data["usage"]["cache_read_input_tokens"] == whole


def test_a_call_cut_short_is_the_same_whole_and_streamed(qwen_claude):
    args = dict(model=QWEN, tools=[WEATHER], extra_body=T0, messages=[{"role": "user", "content": "What's the weather like in Paris right now?"}])
    cut = 0
    for max_tokens in (12, 16, 20):
        whole = qwen_claude.messages.create(max_tokens=max_tokens, **args)
        with qwen_claude.messages.stream(max_tokens=max_tokens, **args) as s:
            final = s.get_final_message()
        strip = lambda m: [dict(b.model_dump(exclude_none=True), id="") for b in m.content]  # noqa: E731
        assert strip(whole) == strip(final) and whole.stop_reason == final.stop_reason == "max_tokens", (max_tokens, whole, final)
        cut += any(b.type == "tool_use" for b in whole.content)
    assert cut >= 2, "no call was cut short"


def test_either_key_header_may_hold_the_key():
    from conftest import Server
    s = Server(env={"JETON_AUTH_API_KEYS": "alice:alice-secret-0001"})
    try:
        body = {"model": "default", "max_tokens": 3, "messages": MSG}
        for headers in ({"x-api-key": "alice-secret-0001", "Authorization": "Bearer wrong"},
                        {"x-api-key": "wrong", "Authorization": "Bearer alice-secret-0001"},
                        {"x-api-key": "alice-secret-0001", "Authorization": ""}):
            assert s.request("POST", "/v1/messages", body, headers=headers)[0] == 200, headers
        assert s.request("POST", "/v1/messages", body, headers={"x-api-key": "wrong", "Authorization": "Bearer no"})[0] == 401
        # Empty headers present no key at all.
        status, _, data = s.request("POST", "/v1/messages", body, headers={"x-api-key": "", "Authorization": "Bearer "})
        assert status == 401 and "didn't provide" in data["error"]["message"], data
    finally:
        s.stop()


def test_the_sdk_lists_and_retrieves_models(claude, client):
    page = claude.models.list()
    [m] = page.data
    openai_model = client.models.list().data[0]
    assert m.id == openai_model.id and m.type == "model" and m.display_name == m.id
    assert m.max_input_tokens == 8192 and m.created_at.year >= 1970 and page.has_more is False
    assert claude.models.retrieve(m.id).id == m.id


MSG = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("body, field", [
    ({"messages": MSG}, "max_tokens"),
    ({"max_tokens": 5}, "messages"),
    ({"max_tokens": 5, "messages": []}, "messages"),
    ({"max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"max_tokens": 5, "messages": MSG + [{"role": "system", "content": [{"type": "image"}]}]}, "messages[1].content[0].type"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "compact_20260112"}]}},
     "context_management.edits[0].type"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919",
                                                                           "trigger": {"type": "messages", "value": 3}}]}},
     "context_management.edits[0].trigger.type"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919",
                                                                           "trigger": {"type": "input_tokens"}}]}},
     "context_management.edits[0].trigger.value"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919",
                                                                           "keep": {"type": "tool_uses", "value": -1}}]}},
     "context_management.edits[0].keep.value"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919",
                                                                           "clear_at_least": {"type": "tool_uses", "value": 1}}]}},
     "context_management.edits[0].clear_at_least.type"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919", "exclude_tools": "ls"}]}},
     "context_management.edits[0].exclude_tools"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919", "clear_tool_inputs": [1]}]}},
     "context_management.edits[0].clear_tool_inputs"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919", "keeps": 3}]}},
     "context_management.edits[0].keeps"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_tool_uses_20250919"},
                                                                          {"type": "clear_tool_uses_20250919"}]}},
     "context_management.edits[1]"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": {}}}, "context_management.edits"),
    ({"max_tokens": 5, "messages": MSG, "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "bogus"}]}},
     "context_management.edits[0].keep"),
    ({"max_tokens": 5, "messages": MSG, "stop_sequences": [""]}, "stop_sequences"),
    ({"max_tokens": 5, "messages": [{"role": "user"}]}, "messages[0].content"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": []}]}, "messages[0].content"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "x", "name": "n"}]}, "messages[0].name"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}, "messages[0].content[0].type"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "extra": 1}]}]}, "messages[0].content[0].extra"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "base64", "data": "x"}}]}]},
     "messages[0].content[0].source.type"),
    ({"max_tokens": 5, "messages": MSG + [{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": "x"}]}]},
     "messages[1].content[0].input"),
    ({"max_tokens": 5, "messages": MSG + [{"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}]},
     "messages[1].content[0].id"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]},
     "messages[0].content[0]"),
    ({"max_tokens": 5, "messages": MSG + [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]},
     "messages[1].content[0]"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "x"}]}]},
     "messages[0].content[0].tool_use_id"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": 5}]}]},
     "messages[0].content[0].tool_use_id"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image"}]}]}]},
     "messages[0].content[0].content[0].type"),
    ({"max_tokens": 5, "messages": MSG, "system": 5}, "system"),
    ({"max_tokens": 5, "messages": MSG, "system": [{"type": "image"}]}, "system[0].type"),
    ({"max_tokens": 5, "messages": MSG, "temperature": 1.5}, "temperature"),
    ({"max_tokens": 5, "messages": MSG, "top_k": "x"}, "top_k"),
    ({"max_tokens": 5, "messages": MSG, "stop_sequences": "x"}, "stop_sequences"),
    ({"max_tokens": 5, "messages": MSG, "stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
    ({"max_tokens": 5, "messages": MSG, "tools": {}}, "tools"),
    ({"max_tokens": 5, "messages": MSG, "tools": [{"name": "f"}]}, "tools[0].input_schema"),
    ({"max_tokens": 5, "messages": MSG, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
    ({"max_tokens": 5, "messages": MSG, "tools": [dict(WEATHER, input_schema={"type": "bogus"})]}, "tools[0].input_schema"),
    ({"max_tokens": 5, "messages": MSG, "tools": [dict(WEATHER, name="bad name")]}, "tools[0].name"),
    ({"max_tokens": 5, "messages": MSG, "tools": [WEATHER], "tool_choice": "auto"}, "tool_choice"),
    ({"max_tokens": 5, "messages": MSG, "tools": [WEATHER], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({"max_tokens": 5, "messages": MSG, "tools": [WEATHER], "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice"),
    ({"max_tokens": 5, "messages": MSG, "tools": [WEATHER], "tool_choice": {"type": "sometimes"}}, "tool_choice"),
    ({"max_tokens": 5, "messages": MSG, "thinking": {"type": "enabled", "budget_tokens": 512}}, "thinking.budget_tokens"),
    ({"max_tokens": 5, "messages": MSG, "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ({"max_tokens": 5, "messages": MSG, "speed": "ludicrous"}, "speed"),
    ({"max_tokens": 5, "messages": MSG, "cache_control": {"type": "forever"}}, "cache_control.type"),
    ({"max_tokens": 5, "messages": MSG, "diagnostics": {"previous_message_id": "msg_1"}}, "diagnostics"),
    ({"max_tokens": -1, "messages": MSG}, "max_tokens"),
    ({"max_tokens": 5, "messages": MSG, "thinking": {"type": "deep"}}, "thinking.type"),
    ({"max_tokens": 5, "messages": MSG, "metadata": {"user_id": 5}}, "metadata.user_id"),
    ({"max_tokens": 5, "messages": MSG, "service_tier": "priority"}, "service_tier"),
    ({"max_tokens": 5, "messages": MSG, "mcp_servers": [{"type": "url", "url": "http://x", "name": "x"}]}, "mcp_servers"),
    ({"max_tokens": 5, "messages": MSG, "container": "c1"}, "container"),
    ({"max_tokens": 5, "messages": MSG, "output_format": {"type": "json_schema"}}, "output_format.schema"),
    ({"max_tokens": 5, "messages": MSG, "output_format": {"type": "json_schema", "schema": {"type": "bogus"}}}, "output_format.schema"),
    ({"max_tokens": 5, "messages": MSG, "output_config": {"effort": "extreme"}}, "output_config.effort"),
    ({"max_tokens": 5, "messages": MSG, "n": 2}, "n"),
    ({"max_tokens": 5, "messages": MSG, "max_tokens_to_sample": 5}, "max_tokens_to_sample"),
])
def test_a_malformed_request_is_a_400_in_anthropic_s_envelope(server, body, field):
    status, _, data = server.request("POST", "/v1/messages", dict({"model": "default"}, **body))
    assert_anthropic_error(status, data, 400, "invalid_request_error", field)


def test_unknown_model_long_prompt_and_broken_json(server):
    status, _, data = server.request("POST", "/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": MSG})
    assert_anthropic_error(status, data, 404, "not_found_error", "claude-sonnet-4-5")
    status, _, data = server.request("POST", "/v1/messages", {"model": "default", "max_tokens": 5,
                                                              "messages": [{"role": "user", "content": "word " * 9000}]})
    assert "context length" in assert_anthropic_error(status, data, 400, "invalid_request_error")
    status, _, data = server.request("POST", "/v1/messages", raw=b'{"model": "default", "max_tokens": 5, "messages": [')
    assert_anthropic_error(status, data, 400, "invalid_request_error")
    status, _, data = server.request("POST", "/v1/messages/count_tokens", {"model": "default", "messages": MSG, "max_tokens": 5})
    assert_anthropic_error(status, data, 400, "invalid_request_error", "max_tokens")


def test_the_http_layer_s_own_refusals_under_messages_use_anthropic_s_envelope(server):
    import socket
    status, _, data = server.request("GET", "/v1/messages")
    assert_anthropic_error(status, data, 405, "invalid_request_error")
    status, _, data = server.request("POST", "/v1/messages/batches", {"requests": []})
    assert_anthropic_error(status, data, 404, "not_found_error")
    def refused(raw):
        """The status and JSON body a raw request is refused with (the server closes after it)."""
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(raw)
            reply = b""
            while not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)
    # A body over the limit, refused from its head: no body is sent.
    assert_anthropic_error(*refused(b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: 99999999\r\n\r\n"), 413, "request_too_large")
    # A framing error found in the head (before it is whole) too.
    assert_anthropic_error(*refused(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                           400, "invalid_request_error")
    # The OpenAI routes keep OpenAI's envelope.
    status, _, data = server.request("GET", "/v1/chat/completions")
    assert status == 405 and data["error"]["type"] == "invalid_request_error" and "type" not in data, data


def test_the_sdk_raises_its_typed_errors(claude):
    import anthropic
    with pytest.raises(anthropic.NotFoundError) as e:
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=MSG)
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="default", max_tokens=5, messages=MSG, extra_body={"temperature": 2})


def test_keys_are_read_from_x_api_key_and_errors_keep_the_envelope():
    import anthropic
    from conftest import Server
    from openai import OpenAI
    s = Server(env={"JETON_AUTH_API_KEYS": "alice:alice-secret-0001"})
    try:
        m = anthropic_client(s, "alice-secret-0001").messages.create(model="default", max_tokens=3, messages=MSG)
        assert m.type == "message"
        with pytest.raises(anthropic.AuthenticationError) as e:
            anthropic_client(s, "wrong-key").messages.create(model="default", max_tokens=3, messages=MSG)
        assert e.value.body["error"]["type"] == "authentication_error"
        status, _, data = s.request("POST", "/v1/messages", {"model": "default", "max_tokens": 3, "messages": MSG})
        assert "x-api-key" in assert_anthropic_error(status, data, 401, "authentication_error")
        # The same key through x-api-key on the OpenAI routes, and as a bearer token here.
        status, _, data = s.request("POST", "/v1/chat/completions", {"model": "default", "max_tokens": 3, "messages": MSG},
                                    headers={"x-api-key": "alice-secret-0001"})
        assert status == 200, data
        client = OpenAI(base_url=s.base + "/v1", api_key="alice-secret-0001", max_retries=0)
        assert client.post("/messages", body={"model": "default", "max_tokens": 3, "messages": MSG}, cast_to=object)["type"] == "message"
    finally:
        s.stop()
