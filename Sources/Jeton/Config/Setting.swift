/// One configuration setting: its dotted key (`server.port`), kind, default and
/// meaning. The table in `Setting.all` is the single source for the YAML file,
/// the `JETON_*` environment variables and `--print-config`.
struct Setting: Sendable {
    enum Kind: Sendable {
        case int(ClosedRange<Int>)
        case double(ClosedRange<Double>)
        case bool
        case string
        case choice([String])
        case list
    }

    let key: String
    let kind: Kind
    let defaultValue: ConfigValue
    let help: String
    var secret = false

    /// JETON_SERVER_PORT for server.port.
    var environmentName: String { "JETON_" + key.uppercased().replacingOccurrences(of: ".", with: "_") }

    static let all: [Setting] = [
        Setting(key: "server.host", kind: .string, defaultValue: .string("127.0.0.1"), help: "address to listen on (0.0.0.0 or :: for all)"),
        Setting(key: "server.port", kind: .int(0...65535), defaultValue: .int(8080), help: "TCP port"),
        Setting(key: "server.backlog", kind: .int(1...65535), defaultValue: .int(1024), help: "listen backlog"),
        Setting(key: "server.event_loops", kind: .int(0...256), defaultValue: .int(0), help: "HTTP event loop queues (0: one per core)"),
        Setting(key: "server.max_connections", kind: .int(1...1_000_000), defaultValue: .int(4096), help: "open connections at most; more get 503"),
        Setting(key: "server.max_request_line_bytes", kind: .int(256...1_048_576), defaultValue: .int(8192), help: "longest request line (414 beyond)"),
        Setting(key: "server.max_header_bytes", kind: .int(1024...1_048_576), defaultValue: .int(32768), help: "largest header block (431 beyond)"),
        Setting(key: "server.max_header_fields", kind: .int(1...10000), defaultValue: .int(100), help: "most header fields (431 beyond)"),
        Setting(key: "server.max_body_bytes", kind: .int(1024...1_073_741_824), defaultValue: .int(4_194_304), help: "largest request body, also after gzip inflation (413 beyond)"),
        Setting(key: "server.header_timeout", kind: .double(0.1...3600), defaultValue: .double(10), help: "seconds to receive a request head (408 beyond)"),
        Setting(key: "server.body_timeout", kind: .double(0.1...3600), defaultValue: .double(10), help: "seconds a request body may stall (408 beyond)"),
        Setting(key: "server.idle_timeout", kind: .double(0.1...86400), defaultValue: .double(60), help: "seconds an idle keep-alive connection stays open"),
        Setting(key: "server.write_timeout", kind: .double(0.1...86400), defaultValue: .double(60), help: "seconds a client may stall reading a response"),
        Setting(key: "server.max_response_buffer_bytes", kind: .int(1024...1_073_741_824), defaultValue: .int(262_144), help: "bytes of a stream the client has not read before its generation pauses (it resumes at half)"),
        Setting(key: "server.slow_reader_timeout", kind: .double(0.1...86400), defaultValue: .double(60), help: "seconds a stream may stay paused by a client that does not read before it is ended"),
        Setting(key: "server.event_delivery", kind: .choice(["dispatch", "epoll"]), defaultValue: .string("epoll"), help: "socket readiness: one epoll set per event loop, watched by one DispatchSource (Linux; measured 0.79x nginx req/s vs 0.59x), or a DispatchSource per connection"),
        Setting(key: "server.gzip", kind: .bool, defaultValue: .bool(true), help: "gzip responses over 1 KiB when the client accepts it"),
        Setting(key: "server.drain_timeout", kind: .double(0...3600), defaultValue: .double(30), help: "seconds in-flight requests get to finish after SIGTERM/SIGINT"),
        Setting(key: "server.playground", kind: .bool, defaultValue: .bool(true), help: "serve the playground page at / (try the model in a browser; off: 404)"),
        Setting(key: "tls.cert", kind: .string, defaultValue: .string(""), help: "PEM certificate; with tls.key, serve HTTPS (TLS 1.2/1.3)"),
        Setting(key: "tls.key", kind: .string, defaultValue: .string(""), help: "PEM private key"),
        Setting(key: "model.path", kind: .string, defaultValue: .string("default"), help: "GGUF file, or `default` for the default model in the cache"),
        Setting(key: "model.name", kind: .string, defaultValue: .string(""), help: "name clients use in `model` (empty: the file name)"),
        Setting(key: "model.threads", kind: .int(0...1024), defaultValue: .int(0), help: "threads for the forward pass (0: all cores)"),
        Setting(key: "model.context_length", kind: .int(0...1_048_576), defaultValue: .int(0), help: "longest prompt plus output per request (0: the model's)"),
        Setting(key: "model.chat_template", kind: .string, defaultValue: .string(""), help: "Jinja chat template file used instead of the model's (empty: the model's own, or ChatML when it has none)"),
        Setting(key: "model.tool_call_format", kind: .choice(["auto", "hermes", "llama3", "mistral", "none"]), defaultValue: .string("auto"), help: "how the model writes tool calls, for parsing them out of its answers (auto: from the chat template; none: refuse requests with tools)"),
        Setting(key: "engine.max_batch_tokens", kind: .int(1...65536), defaultValue: .int(512), help: "tokens computed per step at most"),
        Setting(key: "engine.step_target_ms", kind: .int(0...60000), defaultValue: .int(600),
                help: "while others generate, prompt chunks are cut so a step takes about this long (0: off)"),
        Setting(key: "engine.max_sequences", kind: .int(1...4096), defaultValue: .int(64), help: "sequences running at once at most"),
        Setting(key: "engine.cache_tokens", kind: .int(16...16_777_216), defaultValue: .int(16384), help: "KV cache size in tokens, shared by all requests"),
        Setting(key: "engine.cache_type", kind: .choice(["f16", "f32"]), defaultValue: .string("f16"), help: "how keys and values are stored: f16 halves the cache's memory and the bytes attention reads each step; f32 keeps them exact"),
        Setting(key: "engine.block_size", kind: .int(1...1024), defaultValue: .int(16), help: "tokens per KV cache block (multiples of 16 use the vector attention kernel)"),
        Setting(key: "engine.prefix_caching", kind: .bool, defaultValue: .bool(true), help: "reuse cached blocks of shared prompt prefixes (off for models with sliding-window layers, e.g. Gemma 3)"),
        Setting(key: "engine.max_waiting", kind: .int(1...1_000_000), defaultValue: .int(1024), help: "queued requests at most; more get 429"),
        Setting(key: "speculative.method", kind: .choice(["none", "ngram", "draft"]), defaultValue: .string("none"),
                help: "speculative decoding (none: off; YAML reads a bare off as false): ngram proposes tokens copied from the prompt and output (code edits, rewrites, quoting); draft runs speculative.draft_model (set by it); the tokens stay exactly the model's"),
        Setting(key: "speculative.draft_model", kind: .string, defaultValue: .string(""), help: "smaller GGUF model (or catalog name) with the same tokenizer that proposes tokens (empty: none)"),
        Setting(key: "speculative.max_depth", kind: .int(1...32), defaultValue: .int(8), help: "tokens proposed per sequence and step at most (each sequence adapts below it)"),
        Setting(key: "speculative.max_batch_tokens", kind: .int(0...65536), defaultValue: .int(12),
                help: "proposals are cut so a step computes at most this many tokens, and stop once its sequences alone reach it (a larger step is compute-bound: each verified position costs a sixth of a one-token step on Qwen 1.5B, 2 cores)"),
        Setting(key: "limits.max_n", kind: .int(1...128), defaultValue: .int(16), help: "largest `n`"),
        Setting(key: "limits.max_logprobs", kind: .int(0...100), defaultValue: .int(20), help: "largest `logprobs` / `top_logprobs`"),
        Setting(key: "limits.max_prompts", kind: .int(1...4096), defaultValue: .int(64), help: "prompts in one completions request at most"),
        Setting(key: "limits.max_messages", kind: .int(1...100_000), defaultValue: .int(1024), help: "chat messages in one request at most"),
        Setting(key: "limits.max_stops", kind: .int(0...64), defaultValue: .int(4), help: "stop sequences per request at most"),
        Setting(key: "limits.max_stop_length", kind: .int(1...65536), defaultValue: .int(512), help: "characters per stop sequence at most"),
        Setting(key: "limits.max_logit_bias", kind: .int(0...100_000), defaultValue: .int(300), help: "`logit_bias` entries at most"),
        Setting(key: "limits.max_tokens", kind: .int(0...1_048_576), defaultValue: .int(0), help: "largest `max_tokens` (0: only the context length limits it)"),
        Setting(key: "confidence.threshold", kind: .double(0...1), defaultValue: .double(0.3), help: "a generated token less likely than this is low-confidence (`low_confidence_ratio` and spans)"),
        Setting(key: "confidence.measure_all", kind: .bool, defaultValue: .bool(true),
                help: "measure every answer for the jeton_answer_* metrics (one more pass over the vocabulary per token); false: only requests with `confidence: true`"),
        Setting(key: "auth.api_keys", kind: .list, defaultValue: .list([]), help: "accepted API keys as name:key (empty: no authentication)", secret: true),
        Setting(key: "auth.key_file", kind: .string, defaultValue: .string(""), help: "file of name:key lines, reloaded on SIGHUP"),
        Setting(key: "auth.protect_operations", kind: .bool, defaultValue: .bool(false), help: "also require a key for /health, /ready, /metrics and /version"),
        Setting(key: "rate_limits.requests_per_minute", kind: .int(0...10_000_000), defaultValue: .int(0), help: "requests per minute per API key (0: unlimited)"),
        Setting(key: "rate_limits.tokens_per_minute", kind: .int(0...1_000_000_000), defaultValue: .int(0), help: "prompt plus completion tokens per minute per API key (0: unlimited)"),
        Setting(key: "rate_limits.max_concurrent", kind: .int(0...100_000), defaultValue: .int(0), help: "requests in flight per API key (0: unlimited)"),
        Setting(key: "cors.allowed_origins", kind: .list, defaultValue: .list([]), help: "origins allowed to call from a browser, or * (empty: none)"),
        Setting(key: "cors.max_age", kind: .int(0...86400), defaultValue: .int(600), help: "seconds a browser may cache a preflight answer"),
        Setting(key: "logging.level", kind: .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), defaultValue: .string("info"), help: "least severe level logged"),
        Setting(key: "logging.format", kind: .choice(["text", "json"]), defaultValue: .string("text"), help: "plain text lines or JSON lines, on stderr"),
        Setting(key: "logging.access_log", kind: .bool, defaultValue: .bool(true), help: "one line per request"),
        Setting(key: "logging.log_prompts", kind: .bool, defaultValue: .bool(false), help: "include prompts and outputs in logs (sensitive)"),
        Setting(key: "metrics.enabled", kind: .bool, defaultValue: .bool(true), help: "serve GET /metrics"),
        Setting(key: "grammar.max_schema_bytes", kind: .int(64...16_777_216), defaultValue: .int(65536), help: "largest JSON schema, regex or grammar text of a structured-output request"),
        Setting(key: "grammar.max_nesting", kind: .int(1...1024), defaultValue: .int(64), help: "deepest nesting of schemas, regex groups and grammar parentheses"),
        Setting(key: "grammar.max_symbols", kind: .int(1000...10_000_000), defaultValue: .int(200000), help: "largest compiled grammar, in symbols (bounded repetitions and numeric ranges expand into them)"),
        Setting(key: "grammar.compile_timeout_ms", kind: .int(1...600_000), defaultValue: .int(2000), help: "milliseconds one schema or grammar may take to compile (beyond: 400)"),
        Setting(key: "grammar.max_whitespace", kind: .int(0...64), defaultValue: .int(16), help: "indent (spaces, tabs) a JSON answer may have after a newline; elsewhere at most one space, none before , and : (0: compact JSON)"),
        Setting(key: "grammar.cache_size", kind: .int(1...100_000), defaultValue: .int(64), help: "compiled grammars kept, by their text (least recently used out first)"),
        Setting(key: "grammar.masks_per_grammar", kind: .int(0...100_000), defaultValue: .int(256), help: "token masks kept per compiled grammar (each vocabulary/8 bytes)"),
    ]
}

/// A setting's value.
enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int), double(Double), bool(Bool), string(String), list([String])

    var description: String {
        switch self {
        case let .int(i): return String(i)
        case let .double(d): return d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : String(d)
        case let .bool(b): return b ? "true" : "false"
        case let .string(s): return s.isEmpty ? "\"\"" : s
        case let .list(l): return "[" + l.joined(separator: ", ") + "]"
        }
    }
}

import Foundation
