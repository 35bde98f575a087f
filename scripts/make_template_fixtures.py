#!/usr/bin/env python3
"""Renders real Hugging Face chat templates with Python's jinja2, configured exactly as
transformers' apply_chat_template does, and writes the results as golden fixtures for
the Swift `Jinja` target: Tests/JinjaTests/Fixtures/templates.json.

    pip install jinja2
    python3 scripts/make_template_fixtures.py

The template sources below are copied from the models' tokenizer_config.json
(`chat_template`) on the Hugging Face Hub; the repo id is the key. Each template is
rendered against every conversation, with add_generation_prompt false and true.
A render that raises is recorded as an expected error: `raised` holds the message of
raise_exception(), `error` the text of any other jinja2 error.
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime(2024, 9, 15, 13, 45, 30)  # the Swift test injects the same clock (UTC)


class RaisedError(jinja2.exceptions.TemplateError):
    pass


def make_env():
    """transformers.utils.chat_template_utils._compile_jinja_template, minus AssistantTracker
    (its {% generation %} tag only marks spans; no template below uses it)."""

    def raise_exception(message):
        raise RaisedError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # transformers' override: plain json.dumps, no HTML escaping.
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


TEMPLATES = {}

TEMPLATES["HuggingFaceTB/SmolLM2-135M-Instruct"] = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n"
    "' + message['content'] + '<|im_end|>' + '\n"
    "'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n"
    "' }}{% endif %}"
)

TEMPLATES["meta-llama/Llama-2-7b-chat-hf"] = r"""{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"""

TEMPLATES["meta-llama/Meta-Llama-3-8B-Instruct"] = """{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>

'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %}"""

LLAMA31_BODY = r"""
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

TEMPLATES["meta-llama/Llama-3.1-8B-Instruct"] = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}""" + LLAMA31_BODY

TEMPLATES["meta-llama/Llama-3.2-1B-Instruct"] = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}""" + LLAMA31_BODY

TEMPLATES["mistralai/Mistral-7B-Instruct-v0.1"] = r"""{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"""

TEMPLATES["mistralai/Mistral-7B-Instruct-v0.3"] = r"""{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

TEMPLATES["google/gemma-2-2b-it"] = r"""{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '
' + message['content'] | trim + '<end_of_turn>
' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model
'}}{% endif %}"""

TEMPLATES["google/gemma-3-1b-it"] = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '

' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '

' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '
' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>
' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model
'}}
{%- endif -%}
"""

TEMPLATES["Qwen/Qwen2.5-7B-Instruct"] = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

TEMPLATES["microsoft/Phi-3-mini-4k-instruct"] = r"""{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'user' %}{{'<|user|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>
' + message['content'] + '<|end|>
'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %}"""

TEMPLATES["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"] = r"""{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %}"""

TEMPLATES["deepseek-ai/deepseek-coder-6.7b-instruct"] = r"""{% if not add_generation_prompt is defined %}
{% set add_generation_prompt = false %}
{% endif %}
{%- set ns = namespace(found=false) -%}
{%- for message in messages -%}
    {%- if message['role'] == 'system' -%}
        {%- set ns.found = true -%}
    {%- endif -%}
{%- endfor -%}
{{bos_token}}{%- if not ns.found -%}
{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n'}}
{%- endif %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
{{ message['content'] }}
    {%- else %}
        {%- if message['role'] == 'user' %}
{{'### Instruction:\n' + message['content'] + '\n'}}
        {%- else %}
{{'### Response:\n' + message['content'] + '\n<|EOT|>\n'}}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{% if add_generation_prompt %}
{{'### Response:'}}
{% endif %}"""

TEMPLATES["HuggingFaceH4/zephyr-7b-beta"] = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>
'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

# Not from a model repo: exercises what the ones above do not (macros with recursion and
# defaults, loop.cycle/revindex, dict methods, string methods, filters with arguments,
# block set, break/continue), in the style of tool-use templates such as Hermes-2-Pro's.
TEMPLATES["jeton/feature-coverage"] = r"""{%- macro py_type(spec, depth=0) -%}
{%- set basic = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"} -%}
{%- if spec.type is string and spec.type in basic -%}{{ basic[spec.type] }}
{%- elif spec.type is not string and spec.type is iterable -%}Union[{% for t in spec.type %}{{ py_type({"type": t}) }}{{ "," if not loop.last }}{% endfor %}]
{%- elif spec.type == "array" -%}list[{{ py_type(spec['items'] if spec['items'] is defined else {}, depth + 1) }}]
{%- elif spec.type == "object" -%}dict
{%- else -%}Any{%- endif -%}
{%- endmacro -%}
{%- set ns = namespace(users=0, words=[], last_role=none) -%}
{%- if tools is not none and tools %}
{% for tool in tools %}
{%- set f = tool.function %}
def {{ f.name }}({% for name, p in f.parameters.properties.items() %}{{ name }}: {{ py_type(p) }}{{ ", " if not loop.last }}{% endfor %}):
    \"\"\"{{ f.description | trim | capitalize }}\"\"\"
{% endfor %}
{%- endif %}
{% for m in messages if m.role != 'tool' %}
{%- set ns.last_role = m.role %}
{%- if m.role == 'user' %}{% set ns.users = ns.users + 1 %}{% endif %}
[{{ loop.index }}/{{ loop.length }} {{ loop.cycle('odd', 'even') }} rev={{ loop.revindex0 }}] {{ m.role | upper }}{{ ' (first)' if loop.first }}{{ ' (last)' if loop.last }}:
{%- set text = m.content if m.content is string else (m.content | map(attribute='text') | select('defined') | join(' ')) %}
{%- if not text %}
 <empty>
{%- else %}
 {{ text.strip().replace('\n', ' / ') }}{{ ' [' ~ (text | wordcount) ~ ' words]' if text | wordcount > 3 }}
{%- endif %}
{%- for word in (text or '').split() %}{% if loop.index > 3 %}{% break %}{% endif %}{% if word|length < 2 %}{% continue %}{% endif %}{% set ns.words = ns.words + [word | lower] %}{% endfor %}
{% else %}
(no messages)
{% endfor %}
{%- set summary %}users={{ ns.users }} last={{ ns.last_role }} words={{ ns.words | unique | list | length }}{% endset %}
{{ summary | trim }} sorted={{ ns.words | sort | join(',') }} first={{ ns.words | first | default('-') }}
{{- '\n' ~ (messages | map(attribute='role') | list | tojson) }}
{%- if add_generation_prompt %}
ASSISTANT ({{ "%d turns" | format(messages | length) }}):
{%- endif %}"""

# Per-family special tokens.
TOKENS = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("<|im_start|>", "<|im_end|>"),
    "meta-llama/Llama-2-7b-chat-hf": ("<s>", "</s>"),
    "meta-llama/Meta-Llama-3-8B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama/Llama-3.1-8B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "meta-llama/Llama-3.2-1B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistralai/Mistral-7B-Instruct-v0.1": ("<s>", "</s>"),
    "mistralai/Mistral-7B-Instruct-v0.3": ("<s>", "</s>"),
    "google/gemma-2-2b-it": ("<bos>", "<eos>"),
    "google/gemma-3-1b-it": ("<bos>", "<eos>"),
    "Qwen/Qwen2.5-7B-Instruct": ("<|endoftext|>", "<|im_end|>"),
    "microsoft/Phi-3-mini-4k-instruct": ("<s>", "<|endoftext|>"),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "deepseek-ai/deepseek-coder-6.7b-instruct": ("<｜begin▁of▁sentence｜>", "<|EOT|>"),
    "HuggingFaceH4/zephyr-7b-beta": ("<s>", "</s>"),
    "jeton/feature-coverage": ("<s>", "</s>"),
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location.\n\nReturns the temperature.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "description": "Forecast days", "default": 1},
                "hourly": {"type": "array", "items": {"type": "number"}},
                "threshold": {"type": "number", "minimum": -273.15, "maximum": 1e3},
            },
            "required": ["location"],
        },
    },
}

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web for \"quoted\" text, élan & <tags>.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "strict": {"type": "boolean"}, "extra": {"type": ["string", "null"]}},
            "required": ["query"],
        },
        "return": {"type": "string"},
    },
}

U = lambda c: {"role": "user", "content": c}
A = lambda c: {"role": "assistant", "content": c}
S = lambda c: {"role": "system", "content": c}

CONVERSATIONS = {
    "single_user": {"messages": [U("Hello!")]},
    "system_user": {"messages": [S("You are a terse assistant."), U("What is 2+2?")]},
    "multi_turn": {"messages": [S("Be kind."), U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")]},
    "ends_with_assistant": {"messages": [U("Ping"), A("Pong")]},
    "empty_content": {"messages": [U(""), A(""), U("  ")]},
    "unicode": {"messages": [U("Ça va? 你好 🌍 — naïve café, עברית, \u00e9 vs e\u0301"), A("Très bien 👍"), U("Ünïcödé ✓")]},
    "multiline_and_syntax": {"messages": [
        S("  Line one\nLine two  \n"),
        U("  Code:\n```python\nprint('{{ not a tag }}')  # {% raw %}\n```\n\tTabbed \\ backslash \"quotes\" 'single'  \n"),
        A("\nSure.\n\n"),
        U("{# not a comment #}\r\nCRLF line"),
    ]},
    "not_alternating": {"messages": [U("one"), U("two")]},
    "first_assistant": {"messages": [A("I start."), U("ok")]},
    "tools": {"messages": [S("Use tools when needed."), U("Weather in Paris?")], "tools": [WEATHER_TOOL, SEARCH_TOOL]},
    "tool_calls": {
        "messages": [
            U("What's the weather in Oslo?"),
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call12345", "type": "function", "function": {"name": "get_current_weather", "arguments": {"location": "Oslo, Norway", "unit": "celsius"}}}
            ]},
            {"role": "tool", "tool_call_id": "call12345", "name": "get_current_weather", "content": "{\"temperature\": -3.5, \"sky\": \"snow\"}"},
            A("It is -3.5 °C and snowing in Oslo."),
            U("Thanks"),
        ],
        "tools": [WEATHER_TOOL],
    },
    "content_parts": {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "System in parts."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "  Describe this image.  "}]},
    ]},
    "no_messages": {"messages": []},
    "custom_date": {"messages": [U("What day is it?")], "date_string": "01 Jan 2025"},
}

# Small templates checking one feature each against jinja2 (same environment).
# Tuples print as lists in the Swift port (it has no tuple type), so none is printed here.
SNIPPETS = [
    # literals, str() of values
    ("{{ 1 }}|{{ -2 }}|{{ 1.5 }}|{{ 2.0 }}|{{ 1e20 }}|{{ 1e-7 }}|{{ 0.1 + 0.2 }}|{{ 1_000 }}", {}),
    ("{{ true }}|{{ True }}|{{ false }}|{{ none }}|{{ None }}|{{ 'a' 'b' }}", {}),
    ("{{ 'it''s' }}|{{ \"dq 'x'\" }}|{{ 'esc\\n\\t\\\\ \\x41\\u00e9\\U0001F600 \\q' }}", {}),
    ("{{ [1, 'a', none, true, 2.5, [], {}] }}|{{ {'k': 'v', 'n': [1, {'x': none}]} }}|{{ (1, 2) | list }}|{{ ['it\\'s', \"q\\\"\"] }}", {}),
    ("{{ x }}|{{ d }}|{{ l }}", {"x": "plain", "d": {"b": 1, "a": [True, None, 1.25]}, "l": ["x", "y"]}),
    # arithmetic
    ("{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -2 }} {{ 2 ** 3 ** 2 }}", {}),
    ("{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 2.5 }} {{ true + 1 }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1, 2] * 2 }} {{ [1] + [2, 3] }} {{ 'a' ~ 1 ~ none ~ undefined_var ~ 2.0 }}", {}),
    ("{{ -x }} {{ +x }} {{ - - 3 }} {{ not x }} {{ not not x }} {{ (1 + 2) * 3 }} {{ 1 + 2 * 3 }} {{ 10 - 2 - 3 }} {{ 2 * 3 % 4 }}", {"x": 5}),
    # comparisons and logic
    ("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' == 'a' }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ none == none }} {{ x == y }}", {"x": [1, {"a": 2}], "y": [1, {"a": 2}]}),
    ("{{ 'b' in 'abc' }} {{ 'z' not in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 'x' in missing }}", {}),
    ("{{ 0 or 'default' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or none }} {{ [] or {} or 0 }}|{{ 'yes' if x else 'no' }} {{ 'yes' if y else 'no' }} [{{ 'only' if y }}]", {"x": 1, "y": 0}),
    # undefined handling (default Undefined)
    ("[{{ nope }}][{{ d.missing }}][{{ d['missing'] }}][{{ l[10] }}][{{ 'abc'[5] }}][{{ nope | default('dflt') }}][{{ '' | default('e', true) }}][{{ none | default('n') }}]", {"d": {}, "l": []}),
    ("{{ nope is defined }} {{ nope is undefined }} {{ d.k is defined }} {{ nope | length }} {% for x in nope %}never{% else %}empty{% endfor %}", {"d": {"k": None}}),
    # attribute/item access, slicing
    ("{{ m.role }} {{ m['role'] }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} {{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[::-1] }} {{ l[5:] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[-2:] }}", {"m": {"role": "user"}, "l": [1, 2, 3, 4], "s": "héllo"}),
    # filters
    ("{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'Hello World' | upper }}|{{ 'Hello' | lower }}|{{ 'hello wORLD-foo bar(baz' | title }}|{{ 'hELLO wORLD' | capitalize }}", {}),
    ("{{ 'abc' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ 'héllo' | length }} {{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ 'xyz' | first }} {{ [] | first }}", {}),
    ("{{ [1, 2, 3] | join }}|{{ ['a', 'b'] | join(', ') }}|{{ users | join(', ', attribute='name') }}|{{ users | map(attribute='name') | join('/') }}|{{ users | map(attribute='age', default=0) | list }}", {"users": [{"name": "ann", "age": 3}, {"name": "bob"}]}),
    ("{{ users | selectattr('admin') | map(attribute='name') | list }} {{ users | rejectattr('admin') | map(attribute='name') | list }} {{ users | selectattr('name', 'equalto', 'bob') | list | length }} {{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ ['A', 'b'] | map('lower') | list }}", {"users": [{"name": "ann", "admin": True}, {"name": "bob", "admin": False}, {"name": "cy"}]}),
    ("{{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 3.14159 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.7 | round(0, 'floor') }} {{ 2.1 | round(0, 'ceil') }} {{ 5 | round }} {{ -3 | abs }} {{ -2.5 | abs }}", {}),
    ("{{ ['b', 'A', 'a', 'B', 'b'] | unique | list }} {{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ users | sort(attribute='age') | map(attribute='name') | join }} {{ [1, 5, 3] | max }} {{ [4, 2, 8] | min }} {{ [1, 2, 3] | sum }} {{ [1, 2] | reverse | list }} {{ 'abc' | reverse }}", {"users": [{"name": "x", "age": 30}, {"name": "y", "age": 20}]}),
    ("{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '0x1A' | int(0, 16) }} {{ '2.5' | float }} {{ 'bad' | float }} {{ 3 | float }} {{ 42 | string }} {{ [1] | string }} {{ 'ab' | list }} {{ {'a': 1, 'b': 2} | list }} {% for k, v in {'a': 1} | items %}{{ k }}{{ v }}{% endfor %}", {}),
    ("{{ '<a href=\"x\">&\\'' | escape }} {{ '<b>' | safe }} {{ 'x' | e }} {{ 'one two  three' | wordcount }} {{ 'hi' | center(6) }}|{{ '%s-%d' | format('a', 3) }}", {}),
    ("{{ '%.2f|%5d|%-4s|%05.1f|%+d|%x|%X|%o|%e|%g|%.3s|%c|%%|%#x|%i' | format(3.14159, 42, 'ab', 2.5, 7, 255, 255, 8, 12345.678, 0.0001, 'abcdef', 65, 255, 3) }}", {}),
    ("{{ '%x|%#o|%c|%-6x|%06X|%+x|%#08x|%.4x|%d' | format(-255, 8, 'a', 10, 255, 5, 255, 7, 3.9) }}", {}),
    ("{{ '%x' | format(3.0) }}", {}),
    ("{{ 'line1\\nline2\\n\\nline4' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent('> ', blank=true) }}", {}),
    # tojson as transformers defines it
    ("{{ x | tojson }}", {"x": {"b": 1, "a": [1, 2.5, "é\n\"<>&'\\", None, True, False], "c": {}, "d": [], "e": -0.0, "f": 1e100}}),
    ("{{ x | tojson(indent=2) }}|{{ x | tojson(indent=0) }}|{{ x | tojson(separators=(',', ':')) }}|{{ x | tojson(sort_keys=true) }}|{{ x | tojson(ensure_ascii=true) }}", {"x": {"z": [1, {"y": "ü😀"}], "a": {}}}),
    ("{{ 'str' | tojson }} {{ 3 | tojson }} {{ none | tojson }} {{ [] | tojson(indent=4) }} {{ 'tab\\tctl\\x01' | tojson }}", {}),
    # tests
    ("{{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ none is none }} {{ false is false }} {{ true is true }} {{ 1 is true }} {{ true is boolean }}", {}),
    ("{{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is eq 2 }} {{ 2 is ne 3 }} {{ 1 is lt 2 }} {{ 'a' is in 'abc' }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ x is not none }} {{ x is not string }} {{ range is callable }}", {"x": 1}),
    # string and dict methods
    ("{{ '  x  '.strip() }}|{{ 'xxyxx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'x  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}|{{ 'hi'.upper() }}|{{ 'Hi'.lower() }}|{{ \"they're bill's\".title() }}", {}),
    ("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'a-b'.replace('-', '') }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ ', '.join(['a', 'b']) }} {{ '{} and {}'.format(1, 'two') }} {{ '{0}{0}'.format('x') }} {{ '{n}!'.format(n=3) }} {{ 'abc'.capitalize() }}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }}", {"d": {"b": 2, "a": 1}}),
    # loops
    ("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}|{% endfor %}", {"xs": ["p", "q", "r"]}),
    ("{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}|{% for x in range(2, 10, 3) %}{{ x }}{% endfor %}|{% for x in range(5, 0, -2) %}{{ x }}{% endfor %}|{% for x in [] %}x{% else %}none{% endfor %}", {}),
    ("{% for a, b in pairs %}{{ a }}{{ b }} {% endfor %}|{% for c in 'héy' %}[{{ c }}]{% endfor %}|{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}", {"pairs": [[1, 2], ["x", "y"]]}),
    ("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for i in range(2) %}{% for j in range(2) %}{{ i }}{{ j }}{{ loop.index }} {% endfor %}{{ loop.index }};{% endfor %}", {}),
    # scoping and namespace
    ("{% set x = 1 %}{% for i in range(2) %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}|{% if true %}{% set y = 3 %}{% endif %}{{ y }}|{% set ns = namespace(n=0, items=[]) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.n }} {{ ns.items }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set t = (1, 2) %}{{ t | list }}|{% set ns = namespace() %}{% set ns.v = 'set later' %}{{ ns.v }}|{% set block %}  inner {{ 1 + 1 }}  {% endset %}[{{ block }}]|{% set up | upper %}shout{% endset %}{{ up }}", {}),
    ("{% set d = dict(a=1, b='x') %}{{ d }} {{ dict(d, c=3) }}|{{ namespace(d, z=1).z }}|{% filter upper %}filtered {{ 'text' }}{% endfilter %}", {}),
    # macros and call blocks
    ("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet(greeting='Yo', name='Cy') }}", {}),
    ("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}{{ fact(6) }}|{% macro v() %}{{ varargs | list }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}", {}),
    ("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 }}{% endcall %}|{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}<{{ item }}>{% endcall %}", {}),
    ("{% macro row(x) %}<{{ caller(x) }}>{% endmacro %}{% for m in ms %}{% call(v) row(m.role) %}{{ v }}:{{ m.content }}:{{ loop.index }}{% endcall %}{% endfor %}", {"ms": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}),
    ("{% for x in xs %}{{ loop }}|{{ loop.cycle() if false }}{{ loop.nextitem is defined }}{% endfor %}", {"xs": [1, 2]}),
    # whitespace control with trim_blocks / lstrip_blocks
    ("a\n  {% if true %}\n  b\n  {% endif %}\n  c\n", {}),
    ("a\n  {%+ if true %}\n  b\n  {%- endif %}\n  c  {{- ' d ' -}}  e\n{# comment #}\n  {# indented comment #}\nf {%- if true +%}\ng{% endif %}", {}),
    ("<{%- for x in [1, 2] -%}\n  {{ x }}\n{%- endfor -%}>\n{{ 'x' }}\n{{ 'y' }}\n\n", {}),
    ("{% raw %}{{ not rendered }}{% endraw %}|{%- raw -%}  {% tag %}  {%- endraw %}|", {}),
    ("line\r\nwindows\rmac\n{% if true %}\r\nx{% endif %}", {}),
    # globals
    ("{{ range(3) | list }} {{ range(1, 4) | list }} {{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %j %p %I %y %%') }}", {}),
    # errors
    ("{{ raise_exception('custom failure: ' ~ 42) }}", {}),
    ("{{ 1 + 'a' }}", {}),
    ("{{ nope() }}", {}),
    ("{{ nope.attr }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ 'x'.bogus() }}", {}),
    ("{% for x in 5 %}{% endfor %}", {}),
    ("{{ 1 < 'a' }}", {}),
    ("{{ [1] | no_such_filter }}", {}),
]


def render(env, source, context):
    try:
        return {"expected": env.from_string(source).render(**context)}
    except RaisedError as e:
        return {"raised": str(e)}
    except Exception as e:  # any other failure: the Swift side must throw too
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    env = make_env()
    cases = []
    for name, source in TEMPLATES.items():
        bos, eos = TOKENS[name]
        for conv_name, conv in CONVERSATIONS.items():
            for agp in (False, True):
                # What apply_chat_template passes: messages, tools (None when absent),
                # documents, add_generation_prompt, then the special tokens and kwargs.
                context = {"messages": conv["messages"], "tools": conv.get("tools"), "documents": None,
                           "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos}
                for k, v in conv.items():
                    if k not in context:
                        context[k] = v
                case = {"template": name, "conversation": conv_name, "context": context}
                case.update(render(env, source, context))
                cases.append(case)
    snippets = []
    for source, context in SNIPPETS:
        try:
            env.parse(source)
        except jinja2.exceptions.TemplateSyntaxError as e:
            raise SystemExit(f"snippet does not parse in jinja2: {source!r}: {e}")
        case = {"template": source, "context": context}
        case.update(render(env, source, context))
        snippets.append(case)
    out = {
        "generator": "scripts/make_template_fixtures.py",
        "jinja2": jinja2.__version__,
        "now": FIXED_NOW.isoformat(),
        "templates": TEMPLATES,
        "cases": cases,
        "snippets": snippets,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "JinjaTests", "Fixtures", "templates.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    ok = sum(1 for c in cases if "expected" in c)
    print(f"{len(cases)} cases from {len(TEMPLATES)} templates: {ok} render, {len(cases) - ok} raise; {len(snippets)} snippets")


if __name__ == "__main__":
    main()
