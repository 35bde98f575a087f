"""POST /v1/responses (OpenAI's Responses API) through the official openai client: the answer is
the one chat gives for the same conversation (instructions as a system message, input items as
messages, function calls and their outputs as tool turns), streamed events add up to the whole
Response, logprobs and structured output come through, kept answers are continued by
`previous_response_id`, read, listed and deleted, and every malformed request is a 400 naming
the Responses field."""
import json
import urllib.request

import jsonschema
import pytest

from conftest import assert_error, raw_post

QWEN = "qwen2.5-coder-1.5b"
WEATHER = {"type": "function", "name": "get_weather", "description": "Get the current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CHAT_WEATHER = {"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}


def chat_text(client, messages, **kw):
    r = client.chat.completions.create(model=kw.pop("model", "default"), messages=messages, temperature=0, **kw)
    return r.choices[0].message.content, r.usage, r.choices[0].finish_reason


def test_answer_and_usage_equal_chat_for_the_same_conversation(client):
    r = client.responses.create(model="default", instructions="Answer in one sentence.", input="Why is the sky blue?",
                                max_output_tokens=24, temperature=0)
    text, usage, finish = chat_text(client, [{"role": "system", "content": "Answer in one sentence."},
                                             {"role": "user", "content": "Why is the sky blue?"}], max_tokens=24)
    assert r.object == "response" and r.id.startswith("resp_")
    assert r.output_text == text
    assert (r.usage.input_tokens, r.usage.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert r.usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert r.instructions == "Answer in one sentence." and r.max_output_tokens == 24 and r.store is True
    [item] = r.output
    assert item.type == "message" and item.role == "assistant" and item.id.startswith("msg_")
    assert (r.status == "incomplete") == (finish == "length")
    if finish == "length":
        assert r.incomplete_details.reason == "max_output_tokens" and item.status == "incomplete"


def test_a_cut_answer_is_incomplete_and_a_finished_one_completed(client):
    r = client.responses.create(model="default", input="Count from one to fifty in words.", max_output_tokens=5, temperature=0)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 5 and r.output[0].status == "incomplete"
    r = client.responses.create(model="default", input="Say yes.", max_output_tokens=200, temperature=0)
    assert r.status == "completed" and r.incomplete_details is None and r.output[0].status == "completed"
    assert r.usage.output_tokens < 200


def test_message_items_and_text_parts_are_chat_messages(client):
    first = client.responses.create(model="default", input="Name a fruit.", max_output_tokens=12, temperature=0)
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Name a fruit."}]}] + \
        [o.model_dump(exclude_none=True) for o in first.output] + \
        [{"type": "message", "role": "developer", "content": "Be brief."},
         {"role": "user", "content": [{"type": "input_text", "text": "And a"}, {"type": "input_text", "text": "vegetable?"}]}]
    r = client.responses.create(model="default", input=items, max_output_tokens=12, temperature=0)
    text, usage, _ = chat_text(client, [
        {"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": first.output_text},
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "And a\nvegetable?"}], max_tokens=12)
    assert r.output_text == text and r.usage.input_tokens == usage.prompt_tokens


def test_stream_events_add_up_to_the_whole_response(client):
    args = dict(model="default", input="Say yes.", max_output_tokens=200, temperature=0)
    whole = client.responses.create(**args)
    assert whole.status == "completed"
    with client.responses.stream(**args) as s:
        events = list(s)
        final = s.get_final_response()
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == whole.output_text == final.output_text
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    assert final.usage.output_tokens == whole.usage.output_tokens and final.status == "completed"
    assert final.output[0].id == events[2].item.id


def test_a_cut_stream_ends_with_response_incomplete(client):
    args = dict(model="default", input="Tell me about the moon.", max_output_tokens=20, temperature=0)
    whole = client.responses.create(**args)
    events = list(client.responses.create(stream=True, **args))
    last = events[-1]
    assert last.type == "response.incomplete" and last.response.status == "incomplete"
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert last.response.output_text == whole.output_text and last.response.usage.output_tokens == 20
    assert events[-2].type == "response.output_item.done" and events[-2].item.status == "incomplete"


def test_raw_stream_names_each_event_and_has_no_done_marker(server):
    status, headers, text = raw_post(server, "/v1/responses", {"model": "default", "input": "Hi", "max_output_tokens": 4, "stream": True, "temperature": 0})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert text.endswith("\n\n") and "[DONE]" not in text
    blocks = text[:-2].split("\n\n")
    for b in blocks:
        name, data = b.split("\n")
        assert name.startswith("event: ") and data.startswith("data: "), b
        assert json.loads(data[6:])["type"] == name[7:]
    assert json.loads(blocks[-1].split("\n")[1][6:])["response"]["usage"]["output_tokens"] == 4


def test_logprobs_come_through_include_as_in_chat(client):
    r = client.responses.create(model="default", input="Hello!", max_output_tokens=6, temperature=0,
                                include=["message.output_text.logprobs"], top_logprobs=3)
    c = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Hello!"}], max_tokens=6,
                                       temperature=0, logprobs=True, top_logprobs=3)
    lp = r.output[0].content[0].logprobs
    want = c.choices[0].logprobs.content
    assert [(e.token, round(e.logprob, 4)) for e in lp] == [(e.token, round(e.logprob, 4)) for e in want]
    assert all(len(e.top_logprobs) == 3 for e in lp)
    plain = client.responses.create(model="default", input="Hello!", max_output_tokens=6, temperature=0)
    assert plain.output[0].content[0].logprobs == []
    with client.responses.stream(model="default", input="Hello!", max_output_tokens=6, temperature=0,
                                 include=["message.output_text.logprobs"]) as s:
        streamed = [x.token for e in s if e.type == "response.output_text.delta" for x in e.logprobs]
    assert streamed == [e.token for e in lp]


def test_a_json_schema_format_holds(client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"], "additionalProperties": False}
    r = client.responses.create(model="default", input="Give me a city and its population as JSON.", temperature=0,
                                max_output_tokens=60, text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}})
    assert r.status == "completed", r.output_text
    jsonschema.validate(json.loads(r.output_text), schema)
    assert r.text.format.type == "json_schema"


def calls(response):
    return [(o.name, json.loads(o.arguments)) for o in response.output if o.type == "function_call"]


def test_function_calls_streamed_and_whole_and_answered(qwen_client):
    args = dict(model=QWEN, input=[{"role": "user", "content": "What's the weather like in Paris right now?"}], tools=[WEATHER],
                temperature=0, max_output_tokens=60)
    r = qwen_client.responses.create(**args)
    assert calls(r) == [("get_weather", {"city": "Paris"})] and r.status == "completed"
    call = [o for o in r.output if o.type == "function_call"][0]
    assert call.call_id and call.id.startswith("fc_") and call.status == "completed"
    chat = qwen_client.chat.completions.create(model=QWEN, messages=args["input"], tools=[CHAT_WEATHER], temperature=0, max_tokens=60)
    assert [(c.function.name, json.loads(c.function.arguments)) for c in chat.choices[0].message.tool_calls] == calls(r)
    with qwen_client.responses.stream(**args) as s:
        types = [e.type for e in s]
        final = s.get_final_response()
    assert calls(final) == calls(r)
    assert "response.function_call_arguments.delta" in types and types[-1] == "response.completed"
    # The call and its output given back: the same prompt as chat's tool turn.
    followup = args["input"] + [o.model_dump(exclude_none=True) for o in r.output] + \
        [{"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temperature_c": 18, "sky": "cloudy"})}]
    r2 = qwen_client.responses.create(**dict(args, input=followup, max_output_tokens=40))
    msgs = args["input"] + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]},
        {"role": "tool", "tool_call_id": call.call_id, "content": json.dumps({"temperature_c": 18, "sky": "cloudy"})}]
    c2 = qwen_client.chat.completions.create(model=QWEN, messages=msgs, tools=[CHAT_WEATHER], temperature=0, max_tokens=40)
    assert r2.usage.input_tokens == c2.usage.prompt_tokens
    assert r2.output_text == (c2.choices[0].message.content or "")
    assert calls(r2) == [(c.function.name, json.loads(c.function.arguments)) for c in c2.choices[0].message.tool_calls or []]


def test_a_named_tool_choice_forces_the_call(qwen_client):
    r = qwen_client.responses.create(model=QWEN, input="Hello there", tools=[WEATHER], temperature=0, max_output_tokens=40,
                                     tool_choice={"type": "function", "name": "get_weather"})
    [(name, arguments)] = calls(r)
    assert name == "get_weather" and isinstance(arguments["city"], str)
    assert r.tool_choice.name == "get_weather"


MSG = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("body, param", [
    ({}, "input"),
    ({"input": []}, "input"),
    ({"input": 5}, "input"),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": []}]}, "input[0].content"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x"}]}]}, "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": "x", "extra": 1}]}, "input[0].extra"),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type"),
    ({"input": MSG + [{"type": "function_call", "call_id": "c1", "arguments": "{}"}]}, "input[1].name"),
    ({"input": MSG + [{"type": "function_call_output", "call_id": "nope", "output": "x"}]}, "input[1].call_id"),
    ({"input": MSG + [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                      {"type": "function_call_output", "call_id": "c1", "output": 5}]}, "input[2].output"),
    ({"input": "x", "conversation": "conv_1"}, "conversation"),
    ({"input": "x", "store": "yes"}, "store"),
    ({"input": "x", "previous_response_id": 5}, "previous_response_id"),
    ({"input": "x", "background": True}, "background"),
    ({"input": "x", "truncation": "middle"}, "truncation"),
    ({"input": "x", "reasoning": {"effort": "high"}}, "reasoning.effort"),
    ({"input": "x", "text": {"verbosity": "low"}}, "text.verbosity"),
    ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "bogus"}}}}, "text.format.schema"),
    ({"input": "x", "include": ["everything"]}, "include[0]"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": 5}]}]}, "input[0].content[0].text"),
    ({"input": [{"type": 5, "role": "user", "content": "x"}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": "x", "status": 5}]}, "input[0].status"),
    ({"input": MSG + [{"role": "assistant", "content": [{"type": "refusal", "refusal": 5}]}]}, "input[1].content[0].refusal"),
    ({"input": "x", "tools": [{"type": 5, "name": "f"}]}, "tools[0].type"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": 5}}, "tool_choice.type"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": "bogus"}, "tool_choice"),
    ({"input": "x", "text": {"format": {"type": 5}}}, "text.format.type"),
    ({"input": "x", "stream": True, "stream_options": {"include_obfuscation": "x"}}, "stream_options.include_obfuscation"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "temperature": 3}, "temperature"),
    ({"input": "x", "n": 2}, "n"),
    ({"input": "x", "messages": MSG}, "messages"),
    ({"input": "x", "stream_options": {"include_obfuscation": False}}, "stream_options"),
    ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": "x", "tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
    ({"input": "x", "tools": [{"type": "function", "name": "f", "function": {}}]}, "tools[0].function"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice"),
])
def test_a_malformed_request_is_a_400_naming_the_field(server, body, param):
    status, headers, data = server.request("POST", "/v1/responses", dict({"model": "default"}, **body))
    assert_error(data, headers, status, 400, "invalid_request_error", param)


def test_unknown_model_and_long_input(server):
    status, headers, data = server.request("POST", "/v1/responses", {"model": "nope", "input": "x"})
    assert_error(data, headers, status, 404, "invalid_request_error", "model", "model_not_found")
    status, headers, data = server.request("POST", "/v1/responses", {"model": "default", "input": "word " * 9000})
    assert_error(data, headers, status, 400, "invalid_request_error", "input", "context_length_exceeded")


def sea_turns(n):
    turns = []
    for i in range(n):
        turns += [{"role": "user", "content": f"Turn {i}: " + "tell me about the sea. " * 8},
                  {"role": "assistant", "content": f"Answer {i}: " + "the sea is wide. " * 8}]
    return turns + [{"role": "user", "content": "Last question: what colour is the sea?"}]


def test_auto_truncation_drops_the_fewest_first_turns_that_make_it_fit():
    from conftest import Server
    from openai import OpenAI, BadRequestError
    s = Server(extra=("--context-length", "400"))
    try:
        client = OpenAI(base_url=s.base + "/v1", api_key="unused", max_retries=0, timeout=300)
        items = sea_turns(8)
        args = dict(model="default", instructions="Be brief.", max_output_tokens=16, temperature=0)
        with pytest.raises(BadRequestError):
            client.responses.create(input=items, **args)
        r = client.responses.create(input=items, truncation="auto", **args)
        assert r.truncation == "auto" and r.output_text
        assert r.usage.input_tokens + 16 <= 400
        # The answer is the one to the conversation without its first k turns, k the fewest that fit.
        for k in range(1, 8):
            try:
                by_hand = client.responses.create(input=items[2 * k:], **args)
            except BadRequestError:
                continue
            break
        assert k > 1, "the first turn alone was enough: the test's conversation is too short"
        assert (r.output_text, r.usage.input_tokens) == (by_hand.output_text, by_hand.usage.input_tokens)
        # The kept conversation holds every item: a follow-up is cut again from its start.
        r2 = client.responses.create(previous_response_id=r.id, input="And at night?", truncation="auto", **args)
        assert r2.output_text and r2.usage.input_tokens + 16 <= 400
        assert len(client.responses.input_items.list(r.id, limit=100).data) == len(items)
        # One user message and a long loop of calls: its oldest exchanges go, the last one stays.
        loop = [{"role": "user", "content": "Check the weather in many cities."}]
        for i in range(12):
            loop += [{"type": "function_call", "call_id": f"c{i}", "name": "weather", "arguments": json.dumps({"city": f"City {i}"})},
                     {"type": "function_call_output", "call_id": f"c{i}", "output": "sunny and warm " * 12}]
        tools = [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
        with pytest.raises(BadRequestError):
            client.responses.create(input=loop, tools=tools, tool_choice="none", **args)
        r = client.responses.create(input=loop, tools=tools, tool_choice="none", truncation="auto", **args)
        assert r.usage.input_tokens + 16 <= 400
        for k in range(1, 12):
            try:
                by_hand = client.responses.create(input=loop[:1] + loop[1 + 2 * k:], tools=tools, tool_choice="none", **args)
            except BadRequestError:
                continue
            break
        assert k > 1 and r.usage.input_tokens == by_hand.usage.input_tokens and r.output_text == by_hand.output_text
        # A last turn past the context alone stays a 400.
        with pytest.raises(BadRequestError):
            client.responses.create(input=items[:-1] + [{"role": "user", "content": "sea " * 600}], truncation="auto", **args)
    finally:
        s.stop()


def test_ignored_bookkeeping_fields_are_accepted_and_echoed(client):
    r = client.responses.create(model="default", input="Hi", max_output_tokens=3, store=False, metadata={"k": "v"},
                                user="u1", truncation="disabled", include=["reasoning.encrypted_content"],
                                parallel_tool_calls=False, prompt_cache_key="p", extra_body={"seed": 7, "top_k": 5})
    assert r.metadata == {"k": "v"} and r.user == "u1" and r.parallel_tool_calls is False and r.store is False
    r = client.responses.create(model="default", input="Hi", max_output_tokens=3, max_tool_calls=2, safety_identifier="s1",
                                prompt_cache_key="p")
    assert (r.max_tool_calls, r.safety_identifier, r.prompt_cache_key) == (2, "s1", "p")


def test_input_tokens_counts_the_prompt_a_request_would_have(client, server):
    args = dict(model="default", instructions="Answer briefly.", input=[{"role": "user", "content": "What is 2+2?"}])
    count = client.responses.input_tokens.count(**args)
    assert count.object == "response.input_tokens"
    r = client.responses.create(max_output_tokens=2, **args)
    assert count.input_tokens == r.usage.input_tokens > 0
    # With the conversation it continues.
    follow = dict(model="default", previous_response_id=r.id, input="And 3+3?")
    assert client.responses.input_tokens.count(**follow).input_tokens == client.responses.create(max_output_tokens=2, **follow).usage.input_tokens
    status, _, data = server.request("POST", "/v1/responses/input_tokens", {"model": "default"})
    assert status == 400 and data["error"]["param"] == "input", data
    status, _, data = server.request("POST", "/v1/responses/input_tokens", {"model": "default", "input": "x", "bogus": 1})
    assert status == 400 and data["error"]["param"] == "bogus", data


def test_previous_response_id_continues_the_conversation_as_chat_would(client):
    r1 = client.responses.create(model="default", instructions="Answer briefly.", input="My name is Ada. What is 2+2?",
                                 max_output_tokens=16, temperature=0)
    assert r1.store is True
    r2 = client.responses.create(model="default", previous_response_id=r1.id, input="What is my name?",
                                 max_output_tokens=16, temperature=0)
    # The earlier instructions do not carry over (OpenAI's rule); the turns do.
    text, usage, _ = chat_text(client, [{"role": "user", "content": "My name is Ada. What is 2+2?"},
                                        {"role": "assistant", "content": r1.output_text},
                                        {"role": "user", "content": "What is my name?"}], max_tokens=16)
    assert r2.previous_response_id == r1.id
    assert (r2.output_text, r2.usage.input_tokens) == (text, usage.prompt_tokens)
    r3 = client.responses.create(model="default", previous_response_id=r2.id, instructions="Be kind.", input="Thanks!",
                                 max_output_tokens=8, temperature=0)
    text, usage, _ = chat_text(client, [{"role": "system", "content": "Be kind."},
                                        {"role": "user", "content": "My name is Ada. What is 2+2?"},
                                        {"role": "assistant", "content": r1.output_text},
                                        {"role": "user", "content": "What is my name?"},
                                        {"role": "assistant", "content": r2.output_text},
                                        {"role": "user", "content": "Thanks!"}], max_tokens=8)
    assert (r3.output_text, r3.usage.input_tokens) == (text, usage.prompt_tokens)


def test_kept_responses_are_read_listed_and_deleted(client):
    r = client.responses.create(model="default", input=[{"role": "user", "content": "One"}, {"role": "user", "content": "Two"},
                                                       {"role": "user", "content": "Three"}], max_output_tokens=4, temperature=0)
    got = client.responses.retrieve(r.id)
    assert got.model_dump() == r.model_dump()
    items = client.responses.input_items.list(r.id)
    assert [i.content[0].text for i in items.data] == ["Three", "Two", "One"]  # newest first by default
    assert all(i.id.startswith("msg_") for i in items.data) and items.has_more is False
    page = client.responses.input_items.list(r.id, order="asc", limit=2)
    assert [i.content[0].text for i in page.data] == ["One", "Two"] and page.has_more is True
    rest = client.responses.input_items.list(r.id, order="asc", after=page.data[-1].id)
    assert [i.content[0].text for i in rest.data] == ["Three"] and rest.has_more is False
    client.responses.delete(r.id)
    for call in (lambda: client.responses.retrieve(r.id), lambda: client.responses.delete(r.id),
                 lambda: client.responses.create(model="default", previous_response_id=r.id, input="x")):
        with pytest.raises(Exception) as e:
            call()
        assert getattr(e.value, "status_code", None) == 404, e.value


def test_a_streamed_answer_is_kept_as_its_final_event_shows_it(client):
    with client.responses.stream(model="default", input="Say yes.", max_output_tokens=200, temperature=0) as s:
        final = s.get_final_response()
    kept = client.responses.retrieve(final.id)
    assert kept.output_text == final.output_text and kept.usage.output_tokens == final.usage.output_tokens


def test_store_false_keeps_nothing_and_unknown_ids_are_404(server, client):
    r = client.responses.create(model="default", input="Hi", store=False, max_output_tokens=3)
    assert r.store is False
    status, headers, data = server.request("GET", f"/v1/responses/{r.id}")
    assert_error(data, headers, status, 404, "invalid_request_error", "response_id", "response_not_found")
    status, headers, data = server.request("POST", "/v1/responses", {"model": "default", "input": "x", "previous_response_id": r.id})
    assert_error(data, headers, status, 404, "invalid_request_error", "previous_response_id", "previous_response_not_found")
    status, headers, data = server.request("GET", "/v1/responses/resp_x/input_items?limit=0")
    assert status == 404, data  # the id is checked first
    r = client.responses.create(model="default", input="Hi", max_output_tokens=3)
    status, headers, data = server.request("GET", f"/v1/responses/{r.id}/input_items?limit=500")
    assert_error(data, headers, status, 400, "invalid_request_error", "limit")


def test_a_kept_response_answers_only_its_own_api_key():
    from conftest import Server
    from openai import OpenAI
    # A bare key is named by its position (key-2), the same name as alice's: responses go by the key itself.
    s = Server(env={"JETON_AUTH_API_KEYS": "key-2:alice-secret-0001,bob-secret-0002"})
    try:
        alice, bob = (OpenAI(base_url=s.base + "/v1", api_key=k, max_retries=0, timeout=120)
                      for k in ("alice-secret-0001", "bob-secret-0002"))
        r = alice.responses.create(model="default", input="Hi", max_output_tokens=3)
        assert alice.responses.retrieve(r.id).id == r.id
        for call in (lambda: bob.responses.retrieve(r.id), lambda: bob.responses.delete(r.id),
                     lambda: bob.responses.create(model="default", previous_response_id=r.id, input="x")):
            with pytest.raises(Exception) as e:
                call()
            assert getattr(e.value, "status_code", None) == 404, e.value
        assert alice.responses.retrieve(r.id).id == r.id  # bob's delete did not take it
    finally:
        s.stop()


def test_a_full_store_drops_the_least_recently_used_and_a_long_conversation_goes_on():
    from conftest import Server
    from openai import OpenAI
    s = Server(env={"JETON_SERVER_RESPONSE_STORE_BYTES": "12000"})
    try:
        c = OpenAI(base_url=s.base + "/v1", api_key="unused", max_retries=0, timeout=120)
        ids = [c.responses.create(model="default", input=f"Say {w}.", max_output_tokens=4, temperature=0).id
               for w in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")]
        kept = [s.request("GET", f"/v1/responses/{i}")[0] == 200 for i in ids]
        assert kept[-1] and not kept[0] and kept == sorted(kept), kept  # the oldest went, the newest stayed
        # A conversation longer than the store goes on: its newest turn is kept with the whole of it.
        r = c.responses.create(model="default", input="Count with me: one.", max_output_tokens=4, temperature=0)
        messages = [{"role": "user", "content": "Count with me: one."}, {"role": "assistant", "content": r.output_text}]
        for w in ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"):
            r = c.responses.create(model="default", previous_response_id=r.id, input=w, max_output_tokens=4, temperature=0)
            assert r.store is True
            messages += [{"role": "user", "content": w}, {"role": "assistant", "content": r.output_text}]
        text, usage, _ = chat_text(c, messages[:-1], max_tokens=4)
        assert (r.output_text, r.usage.input_tokens) == (text, usage.prompt_tokens)
        assert s.request("GET", "/metrics")[0] == 200
        # An answer larger than the whole store is not kept, and says so.
        big = c.responses.create(model="default", input="Write a long story.", max_output_tokens=300, temperature=0,
                                 include=["message.output_text.logprobs"], top_logprobs=5)
        assert big.store is False and s.request("GET", f"/v1/responses/{big.id}")[0] == 404
    finally:
        s.stop()


def test_one_key_s_flood_drops_its_own_responses_first():
    from conftest import Server
    from openai import OpenAI
    s = Server(env={"JETON_SERVER_RESPONSE_STORE_BYTES": "8000", "JETON_AUTH_API_KEYS": "alice:alice-secret-0001,bob:bob-secret-0002"})
    try:
        alice, bob = (OpenAI(base_url=s.base + "/v1", api_key=k, max_retries=0, timeout=120)
                      for k in ("alice-secret-0001", "bob-secret-0002"))
        mine = alice.responses.create(model="default", input="Hi", max_output_tokens=3).id
        for i in range(12):
            bob.responses.create(model="default", input=f"Flood {i}", max_output_tokens=3, user="x" * 1500)
        assert alice.responses.retrieve(mine).id == mine
    finally:
        s.stop()


def test_a_call_cut_short_can_still_be_continued(qwen_client):
    args = dict(model=QWEN, input="What's the weather like in Paris right now?", tools=[WEATHER], temperature=0)
    cut = qwen_client.responses.create(max_output_tokens=12, **args)
    assert cut.status == "incomplete" and cut.output[-1].status == "incomplete", cut.output
    r = qwen_client.responses.create(model=QWEN, previous_response_id=cut.id, input="Never mind. Say hi.", tools=[WEATHER],
                                     temperature=0, max_output_tokens=8)
    assert r.status in ("completed", "incomplete") and r.usage.input_tokens > cut.usage.input_tokens


@pytest.mark.parametrize("prefill", ["My favourite color is", [{"type": "output_text", "text": "My favourite color is"}]])
def test_a_continued_prefill_is_kept_as_one_assistant_message(client, prefill):
    r = client.responses.create(model="default", input=[{"role": "user", "content": "Name a color."},
                                                       {"role": "assistant", "content": prefill}],
                                max_output_tokens=6, temperature=0)
    r2 = client.responses.create(model="default", previous_response_id=r.id, input="Why?", max_output_tokens=6, temperature=0)
    text, usage, _ = chat_text(client, [{"role": "user", "content": "Name a color."},
                                        {"role": "assistant", "content": "My favourite color is" + r.output_text},
                                        {"role": "user", "content": "Why?"}], max_tokens=6)
    assert (r2.output_text, r2.usage.input_tokens) == (text, usage.prompt_tokens)


def test_input_items_validate_against_the_sdk_types_and_ids_are_unique(server, client):
    from openai.types.responses import ResponseItemList
    r = client.responses.create(model="default", max_output_tokens=3, input=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"}, {"role": "user", "content": "Thanks"}])
    status, _, data = server.request("GET", f"/v1/responses/{r.id}/input_items?order=asc")
    assert status == 200
    ResponseItemList.model_validate(data, strict=True)
    assert [i["id"][:3] for i in data["data"]] == ["msg", "msg", "fc_", "fco", "msg"]
    status, headers, data = server.request("POST", "/v1/responses", {"model": "default", "input": [
        {"id": "msg_1", "role": "user", "content": "a"}, {"id": "msg_1", "role": "user", "content": "b"}]})
    assert_error(data, headers, status, 400, "invalid_request_error", "input[1].id")


def test_errors_name_responses_fields_in_their_messages_too(server):
    status, headers, data = server.request("POST", "/v1/responses", {"model": "default", "input": "x",
                                                                       "tools": [dict(WEATHER, description=5)]})
    err = data["error"]
    assert status == 400 and "function" not in err["message"] and "`tools[0]" in err["message"], err
    status, headers, data = server.request("POST", "/v1/responses", {"model": "default", "input": "hi", "max_output_tokens": 8190})
    err = assert_error(data, headers, status, 400, "invalid_request_error", "max_output_tokens", "context_length_exceeded")
    assert "max_output_tokens" in err["message"] and "max_tokens" not in err["message"].replace("max_output_tokens", ""), err


def test_every_answer_validates_against_the_sdk_types(server):
    from openai.types.responses import Response, ResponseCompletedEvent, ResponseIncompleteEvent
    for max_tokens in (200, 2):  # a finished answer and a cut one
        body = {"model": "default", "input": "Say yes.", "max_output_tokens": max_tokens, "temperature": 0}
        status, _, data = server.request("POST", "/v1/responses", body)
        assert status == 200
        Response.model_validate(data, strict=False)
        status, _, text = raw_post(server, "/v1/responses", dict(body, stream=True))
        last = json.loads(text.strip().split("\n")[-1][6:])
        assert last["type"] == ("response.completed" if max_tokens == 200 else "response.incomplete"), last["type"]
        (ResponseCompletedEvent if max_tokens == 200 else ResponseIncompleteEvent).model_validate(last)


def test_top_logprobs_without_the_include_gives_none(client):
    r = client.responses.create(model="default", input="Hi", max_output_tokens=3, top_logprobs=2)
    assert r.output[0].content[0].logprobs == [] and r.top_logprobs == 2


def test_an_empty_answer_is_one_empty_message_whole_and_streamed(client):
    args = dict(model="default", input="Say hello.", max_output_tokens=10, temperature=0)
    first = client.responses.create(**args).output_text.split()[0]
    args["extra_body"] = {"stop": [first]}
    whole = client.responses.create(**args)
    streamed = list(client.responses.create(stream=True, **args))[-1].response
    assert whole.output_text == "" and streamed.output_text == ""
    assert [o.type for o in whole.output] == [o.type for o in streamed.output] == ["message"]


def test_logprobs_with_tools_are_each_message_s_own_tokens(qwen_client):
    args = dict(model=QWEN, tools=[WEATHER], temperature=0, max_output_tokens=50, include=["message.output_text.logprobs"],
                input="Write the words 'Checking now.' and then, in the same reply, emit the <tool_call> block for get_weather with city Paris.")
    whole = qwen_client.responses.create(**args)
    final = list(qwen_client.responses.create(stream=True, **args))[-1].response
    def per_item(r):
        return [(o.type, [e.token for e in o.content[0].logprobs] if o.type == "message" else o.arguments) for o in r.output]
    assert per_item(whole) == per_item(final)
    messages = [o for o in whole.output if o.type == "message"]
    assert messages and any(o.type == "function_call" for o in whole.output), per_item(whole)
    for m in messages:
        tokens = "".join(e.token for e in m.content[0].logprobs)
        assert tokens.strip() == m.content[0].text.strip(), (tokens, m.content[0].text)


def stream_acting_on_created(client, act):
    """Streams a long stored answer, calling act(id) when `response.created` comes; (id, final response)."""
    # Long enough to outlast act's calls on a fast machine.
    stream = client.responses.create(model="default", input="Write a long story about a dragon.", max_output_tokens=400,
                                     stream=True, extra_body={"ignore_eos": True})
    rid, final = None, None
    for ev in stream:
        if ev.type == "response.created":
            rid = ev.response.id
            act(rid)
        if ev.type in ("response.completed", "response.incomplete"):
            final = ev.response
    assert rid and final is not None and final.id == rid
    return rid, final


def test_a_delete_while_the_response_streams_is_taken_and_nothing_is_kept(client):
    from openai import NotFoundError
    deleted = []

    def delete(rid):
        deleted.append(client.responses.delete(rid))  # the SDK returns None on success
        with pytest.raises(NotFoundError):  # and once deleted, it is gone for a second DELETE
            client.responses.delete(rid)
    rid, final = stream_acting_on_created(client, delete)
    assert final.store is False, "a deleted response says it was not kept"
    with pytest.raises(NotFoundError):
        client.responses.retrieve(rid)
    with pytest.raises(NotFoundError):
        client.responses.delete(rid)
    assert deleted == [None]
    # A response that was not deleted is kept as before.
    r = client.responses.create(model="default", input="Hi", max_output_tokens=3, stream=True)
    last = [ev for ev in r][-1].response
    assert client.responses.retrieve(last.id).id == last.id


def test_a_response_read_while_it_streams_is_in_progress(client):
    """OpenAI gives a kept response that is still being answered as `in_progress` (and its input items)."""
    seen = []

    def read(rid):
        seen.append(client.responses.retrieve(rid))
        items = client.responses.input_items.list(rid)
        assert [i.content[0].text for i in items.data] == ["Write a long story about a dragon."]
        # Continued before it ends: a 400 that says so, not "not found".
        from openai import BadRequestError
        with pytest.raises(BadRequestError) as e:
            client.responses.create(model="default", input="Go on.", previous_response_id=rid, max_output_tokens=2)
        assert e.value.body["code"] == "previous_response_in_progress", e.value.body
    rid, final = stream_acting_on_created(client, read)
    assert seen[0].id == rid and seen[0].status == "in_progress" and seen[0].output == [] and seen[0].usage is None, seen
    assert client.responses.retrieve(rid).status == final.status == "incomplete"
