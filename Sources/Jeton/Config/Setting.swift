import Foundation

/// One configuration setting, untyped: its dotted key (`server.port`), kind, default and
/// meaning, as the YAML file, the `JETON_*` environment variables and `--print-config` see it.
/// Every setting is declared once, typed, in `ConfigKeys`; `Setting.all` lists them.
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

    /// Every setting, in the order `ConfigKeys` declares them (the order of Config/jeton.yaml
    /// and `--print-config`). Mirror lists stored properties in declaration order, so a setting
    /// declared there cannot be left out here.
    static let all: [Setting] = Mirror(reflecting: ConfigKeys.shared).children.compactMap {
        ($0.value as? any SettingKey)?.setting
    }

    /// The sections settings belong to (`server`, `model`, ...), in order.
    static let sections: [String] = all.reduce(into: []) { out, s in
        let section = s.section
        if out.last != section { out.append(section) }
    }

    var section: String { String(key.prefix { $0 != "." }) }
}

/// A type a setting's value can have, read from its `ConfigValue`.
protocol ConfigValueType: Sendable {
    init?(configValue: ConfigValue)
}

extension Int: ConfigValueType {
    init?(configValue v: ConfigValue) { guard case let .int(i) = v else { return nil }; self = i }
}

extension Double: ConfigValueType {
    init?(configValue v: ConfigValue) { guard case let .double(d) = v else { return nil }; self = d }
}

extension Bool: ConfigValueType {
    init?(configValue v: ConfigValue) { guard case let .bool(b) = v else { return nil }; self = b }
}

extension String: ConfigValueType {
    init?(configValue v: ConfigValue) { guard case let .string(s) = v else { return nil }; self = s }
}

extension Array: ConfigValueType where Element == String {
    init?(configValue v: ConfigValue) { guard case let .list(l) = v else { return nil }; self = l }
}

/// A setting whatever its value type (for `Setting.all`).
protocol SettingKey: Sendable {
    var setting: Setting { get }
}

/// A setting's typed key, read as `config[\.serverPort]` (an `Int`): a misspelt name does not
/// compile, and the value has the type the setting is declared with. Each initializer takes
/// the kind and default that fit `Value`, so a declaration cannot mix them up either.
struct ConfigKey<Value: ConfigValueType>: SettingKey {
    let setting: Setting
    let defaultValue: Value
}

extension ConfigKey where Value == Int {
    init(_ key: String, _ range: ClosedRange<Int>, default value: Int, help: String) {
        setting = Setting(key: key, kind: .int(range), defaultValue: .int(value), help: help)
        defaultValue = value
    }
}

extension ConfigKey where Value == Double {
    init(_ key: String, _ range: ClosedRange<Double>, default value: Double, help: String) {
        setting = Setting(key: key, kind: .double(range), defaultValue: .double(value), help: help)
        defaultValue = value
    }
}

extension ConfigKey where Value == Bool {
    init(_ key: String, default value: Bool, help: String) {
        setting = Setting(key: key, kind: .bool, defaultValue: .bool(value), help: help)
        defaultValue = value
    }
}

extension ConfigKey where Value == String {
    init(_ key: String, default value: String, help: String) {
        setting = Setting(key: key, kind: .string, defaultValue: .string(value), help: help)
        defaultValue = value
    }

    /// One of `choices`.
    init(_ key: String, choices: [String], default value: String, help: String) {
        setting = Setting(key: key, kind: .choice(choices), defaultValue: .string(value), help: help)
        defaultValue = value
    }
}

extension ConfigKey where Value == [String] {
    /// `secret`: entries are masked in `--print-config`.
    init(_ key: String, default value: [String], help: String, secret: Bool = false) {
        setting = Setting(key: key, kind: .list, defaultValue: .list(value), help: help, secret: secret)
        defaultValue = value
    }
}

/// Every setting, once. Config/jeton.yaml is generated from this list
/// (scripts/make-config-yaml.py), and Tests/ops/test_config.py checks they agree.
struct ConfigKeys: Sendable {
    static let shared = ConfigKeys()

    // server:
    let serverHost = ConfigKey<String>("server.host", default: "127.0.0.1",
        help: "address to listen on (0.0.0.0 or :: for all)")
    let serverPort = ConfigKey<Int>("server.port", 0...65535, default: 8080,
        help: "TCP port")
    let serverBacklog = ConfigKey<Int>("server.backlog", 1...65535, default: 1024,
        help: "listen backlog")
    let serverEventLoops = ConfigKey<Int>("server.event_loops", 0...256, default: 0,
        help: "HTTP event loop queues (0: one per core, capped by a cgroup CPU quota)")
    let serverMaxConnections = ConfigKey<Int>("server.max_connections", 1...1_000_000, default: 4096,
        help: "open connections at most; more get 503 with Retry-After (a GET /health is still answered)")
    let serverMaxRequestLineBytes = ConfigKey<Int>("server.max_request_line_bytes", 256...1_048_576, default: 8192,
        help: "longest request line (414 beyond)")
    let serverMaxHeaderBytes = ConfigKey<Int>("server.max_header_bytes", 1024...1_048_576, default: 32768,
        help: "largest header block (431 beyond)")
    let serverMaxHeaderFields = ConfigKey<Int>("server.max_header_fields", 1...10000, default: 100,
        help: "most header fields (431 beyond)")
    let serverMaxBodyBytes = ConfigKey<Int>("server.max_body_bytes", 1024...1_073_741_824, default: 4_194_304,
        help: "largest request body, also after gzip inflation (413 beyond)")
    let serverHeaderTimeout = ConfigKey<Double>("server.header_timeout", 0.1...3600, default: 10,
        help: "seconds to receive a request head (408 beyond)")
    let serverBodyTimeout = ConfigKey<Double>("server.body_timeout", 0.1...3600, default: 10,
        help: "seconds a request body may stall (408 beyond)")
    let serverIdleTimeout = ConfigKey<Double>("server.idle_timeout", 0.1...86400, default: 75,
        help: "seconds an idle keep-alive connection stays open")
    let serverWriteTimeout = ConfigKey<Double>("server.write_timeout", 0.1...86400, default: 60,
        help: "seconds a client may stall reading a response")
    let serverMaxResponseBufferBytes = ConfigKey<Int>("server.max_response_buffer_bytes", 1024...1_073_741_824, default: 262_144,
        help: "bytes of a stream the client has not read before its generation pauses (it resumes at half)")
    let serverSlowReaderTimeout = ConfigKey<Double>("server.slow_reader_timeout", 0.1...86400, default: 30,
        help: "seconds a stream may stay paused by a client that does not read before it is ended (below write_timeout, which would cut it first)")
    let serverEventDelivery = ConfigKey<String>("server.event_delivery", choices: ["dispatch", "epoll"], default: "epoll",
        help: "socket readiness: one epoll set per event loop, watched by one DispatchSource (Linux; measured 0.79x nginx req/s vs 0.59x), or a DispatchSource per connection")
    let serverGzip = ConfigKey<Bool>("server.gzip", default: true,
        help: "gzip responses over 1 KiB when the client accepts it")
    let serverDrainTimeout = ConfigKey<Double>("server.drain_timeout", 0...3600, default: 30,
        help: "seconds in-flight requests get to finish after SIGTERM/SIGINT")
    let serverPlayground = ConfigKey<Bool>("server.playground", default: true,
        help: "serve the playground page at / (try the model in a browser; off: 404)")
    let serverResponseStoreBytes = ConfigKey<Int>("server.response_store_bytes", 0...1_099_511_627_776, default: 67_108_864,
        help: "bytes of finished Responses API answers kept in memory for previous_response_id and GET /v1/responses/{id}, the least recently used dropped first (0: none kept)")

    // tls:
    let tlsCert = ConfigKey<String>("tls.cert", default: "",
        help: "PEM certificate; with tls.key, serve HTTPS (TLS 1.2/1.3)")
    let tlsKey = ConfigKey<String>("tls.key", default: "",
        help: "PEM private key")

    // model:
    let modelPath = ConfigKey<String>("model.path", default: "default",
        help: "GGUF file, or `default` for the default model in the cache")
    let modelName = ConfigKey<String>("model.name", default: "",
        help: "name clients use in `model` (empty: the file name)")
    let modelThreads = ConfigKey<Int>("model.threads", 0...1024, default: 0,
        help: "threads for the forward pass (0: all cores, capped by a cgroup CPU quota)")
    let modelContextLength = ConfigKey<Int>("model.context_length", 0...1_048_576, default: 0,
        help: "longest prompt plus output per request (0: the model's)")
    let modelChatTemplate = ConfigKey<String>("model.chat_template", default: "",
        help: "Jinja chat template file used instead of the model's (empty: the model's own, or ChatML when it has none)")
    let modelToolCallFormat = ConfigKey<String>("model.tool_call_format", choices: ["auto", "hermes", "llama3", "mistral", "none"], default: "auto",
        help: "how the model writes tool calls, for parsing them out of its answers (auto: from the chat template; none: refuse requests with tools)")

    // engine:
    let engineMaxBatchTokens = ConfigKey<Int>("engine.max_batch_tokens", 1...65536, default: 512,
        help: "tokens computed per step at most")
    let engineStepTargetMs = ConfigKey<Int>("engine.step_target_ms", 0...60000, default: 600,
        help: "while others generate, prompt chunks are cut so a step takes about this long (0: off)")
    let engineStepTargetShortMs = ConfigKey<Int>("engine.step_target_short_ms", 0...60000, default: 120,
        help: "the step target instead while every prompt in progress or waiting fits one step (max_batch_tokens): short gaps for the generating requests when a burst of short prompts arrives; raised to twice the measured step of as many requests generating alone as are running and waiting when that is longer, and at most step_target_ms (0: step_target_ms for all)")
    let engineMaxSequences = ConfigKey<Int>("engine.max_sequences", 1...4096, default: 64,
        help: "sequences running at once at most")
    let engineCacheTokens = ConfigKey<Int>("engine.cache_tokens", 16...16_777_216, default: 16384,
        help: "KV cache size in tokens, shared by all requests")
    let engineCacheType = ConfigKey<String>("engine.cache_type", choices: ["f16", "f32"], default: "f16",
        help: "how keys and values are stored: f16 halves the cache's memory and the bytes attention reads each step; f32 keeps them exact")
    let engineBlockSize = ConfigKey<Int>("engine.block_size", 1...1024, default: 16,
        help: "tokens per KV cache block (multiples of 16 use the vector attention kernel)")
    let enginePrefixCaching = ConfigKey<Bool>("engine.prefix_caching", default: true,
        help: "reuse cached blocks of shared prompt prefixes (off for models with sliding-window layers, e.g. Gemma 3)")
    let engineMaxWaiting = ConfigKey<Int>("engine.max_waiting", 1...1_000_000, default: 1024,
        help: "requests waiting beyond the sequences free to start them, at most; more get 429")

    // speculative:
    let speculativeMethod = ConfigKey<String>("speculative.method", choices: ["none", "ngram", "draft"], default: "none",
        help: "speculative decoding (none: off): ngram proposes tokens copied from the prompt and output (code edits, rewrites, quoting); draft runs speculative.draft_model (set by it); the tokens stay exactly the model's")
    let speculativeDraftModel = ConfigKey<String>("speculative.draft_model", default: "",
        help: "smaller GGUF model (or catalog name) with the same tokenizer that proposes tokens (empty: none)")
    let speculativeDraftVocabulary = ConfigKey<Int>("speculative.draft_vocabulary", 0...1_000_000, default: 100_000,
        help: "the draft model proposes among its first this many tokens and the sequence's own (0: all), or among all when over 2% of a sequence's tokens lie past them: a BPE vocabulary lists its most frequent tokens first, and the draft then reads a fraction of its output matrix")
    let speculativeDraftCommonVocabulary = ConfigKey<Int>("speculative.draft_common_vocabulary", 0...1_000_000, default: 32_768,
        help: "below speculative.draft_vocabulary: the draft proposes among only its first this many tokens and the sequence's own while at most one in 7 of the sequence's tokens lie past them (code and English), a third of the output rows of the larger part (0: off)")
    let speculativeDraftQuantization = ConfigKey<String>("speculative.draft_quantization", choices: ["q4_0", "file"], default: "q4_0",
        help: "q4_0: the draft model's matrices wider than Q4_0 (its output too) are read as Q4_0 copies made at start-up, fewer bytes per proposed token (the target's verification keeps the output its own); file: as the file has them")
    let speculativeDraftMinProbability = ConfigKey<Double>("speculative.draft_min_probability", 0...1, default: 0,
        help: "a greedy (or top_k 1) request's draft stops proposing after a token it gives less than this probability (0: off): the guesses after an unsure one mostly fail, and each costs a draft pass and a verified position")
    let speculativeMaxDepth = ConfigKey<Int>("speculative.max_depth", 1...32, default: 8,
        help: "tokens proposed per sequence and step at most (each sequence adapts below it)")
    let speculativeMaxBatchTokens = ConfigKey<Int>("speculative.max_batch_tokens", 0...65536, default: 12,
        help: "proposals are cut so a step computes at most this many tokens, and stop once its sequences alone reach it (a larger step is compute-bound: each verified position costs a sixth of a one-token step on Qwen 1.5B, 2 cores)")

    // limits:
    let limitsMaxN = ConfigKey<Int>("limits.max_n", 1...128, default: 16,
        help: "largest `n`")
    let limitsMaxLogprobs = ConfigKey<Int>("limits.max_logprobs", 0...100, default: 20,
        help: "largest `logprobs` / `top_logprobs`")
    let limitsMaxPrompts = ConfigKey<Int>("limits.max_prompts", 1...4096, default: 64,
        help: "prompts in one completions request at most")
    let limitsMaxMessages = ConfigKey<Int>("limits.max_messages", 1...100_000, default: 1024,
        help: "chat messages in one request at most")
    let limitsMaxStops = ConfigKey<Int>("limits.max_stops", 0...64, default: 4,
        help: "stop sequences per request at most")
    let limitsMaxStopLength = ConfigKey<Int>("limits.max_stop_length", 1...65536, default: 512,
        help: "characters (code points) per stop sequence at most")
    let limitsMaxLogitBias = ConfigKey<Int>("limits.max_logit_bias", 0...100_000, default: 300,
        help: "`logit_bias` entries at most")
    let limitsMaxTokens = ConfigKey<Int>("limits.max_tokens", 0...1_048_576, default: 0,
        help: "largest `max_tokens` (0: only the context length limits it)")

    // confidence:
    let confidenceThreshold = ConfigKey<Double>("confidence.threshold", 0...1, default: 0.3,
        help: "a generated token less likely than this is low-confidence (`low_confidence_ratio` and spans)")
    let confidenceMeasureAll = ConfigKey<Bool>("confidence.measure_all", default: true,
        help: "measure every answer for the jeton_answer_* metrics (one more pass over the vocabulary per token); false: only requests with `confidence: true`")

    // auth:
    let authAPIKeys = ConfigKey<[String]>("auth.api_keys", default: [],
        help: "accepted API keys as name:key (empty: no authentication)", secret: true)
    let authKeyFile = ConfigKey<String>("auth.key_file", default: "",
        help: "file of name:key lines, reloaded on SIGHUP")
    let authProtectOperations = ConfigKey<Bool>("auth.protect_operations", default: false,
        help: "also require a key for /health, /ready, /metrics and /version")
    let authAdminKeys = ConfigKey<[String]>("auth.admin_keys", default: [],
        help: "admin keys as name:key: only they may load and unload LoRA adapters at run time (empty: no one may)", secret: true)

    // rate_limits:
    let rateLimitsRequestsPerMinute = ConfigKey<Int>("rate_limits.requests_per_minute", 0...10_000_000, default: 0,
        help: "requests per minute per API key (0: unlimited)")
    let rateLimitsTokensPerMinute = ConfigKey<Int>("rate_limits.tokens_per_minute", 0...1_000_000_000, default: 0,
        help: "prompt plus completion tokens per minute per API key (0: unlimited)")
    let rateLimitsMaxConcurrent = ConfigKey<Int>("rate_limits.max_concurrent", 0...100_000, default: 0,
        help: "requests in flight per API key (0: unlimited)")

    // cors:
    let corsAllowedOrigins = ConfigKey<[String]>("cors.allowed_origins", default: [],
        help: "origins allowed to call from a browser, or * (empty: none)")
    let corsMaxAge = ConfigKey<Int>("cors.max_age", 0...86400, default: 600,
        help: "seconds a browser may cache a preflight answer")

    // logging:
    let loggingLevel = ConfigKey<String>("logging.level", choices: ["trace", "debug", "info", "notice", "warning", "error", "critical"], default: "info",
        help: "least severe level logged")
    let loggingFormat = ConfigKey<String>("logging.format", choices: ["text", "json"], default: "text",
        help: "plain text lines or JSON lines, on stderr")
    let loggingAccessLog = ConfigKey<Bool>("logging.access_log", default: true,
        help: "one line per request")
    let loggingLogPrompts = ConfigKey<Bool>("logging.log_prompts", default: false,
        help: "include prompts and outputs in logs (sensitive)")

    // metrics:
    let metricsEnabled = ConfigKey<Bool>("metrics.enabled", default: true,
        help: "serve GET /metrics")

    // grammar:
    let grammarMaxSchemaBytes = ConfigKey<Int>("grammar.max_schema_bytes", 64...16_777_216, default: 65536,
        help: "largest JSON schema, regex or grammar text of a structured-output request")
    let grammarMaxNesting = ConfigKey<Int>("grammar.max_nesting", 1...1024, default: 64,
        help: "deepest nesting of schemas, regex groups and grammar parentheses")
    let grammarMaxSymbols = ConfigKey<Int>("grammar.max_symbols", 1000...10_000_000, default: 200000,
        help: "largest compiled grammar, in symbols (bounded repetitions and numeric ranges expand into them)")
    let grammarCompileTimeoutMs = ConfigKey<Int>("grammar.compile_timeout_ms", 1...600_000, default: 2000,
        help: "milliseconds one schema or grammar may take to compile (beyond: 400)")
    let grammarMaxWhitespace = ConfigKey<Int>("grammar.max_whitespace", 0...64, default: 16,
        help: "indent (spaces, tabs) a JSON answer may have after a newline; elsewhere at most one space, none before , and : (0: compact JSON)")
    let grammarCacheSize = ConfigKey<Int>("grammar.cache_size", 1...100_000, default: 64,
        help: "compiled grammars kept, by their text (least recently used out first)")
    let grammarMasksPerGrammar = ConfigKey<Int>("grammar.masks_per_grammar", 0...100_000, default: 256,
        help: "token masks kept per compiled grammar (each vocabulary/8 bytes)")

    // lora:
    let loraAdapters = ConfigKey<[String]>("lora.adapters", default: [],
        help: "LoRA adapters loaded at start, as name=path (a llama.cpp GGUF adapter or a PEFT directory); each is a model of its own in `model`")
    let loraAllowedDirs = ConfigKey<[String]>("lora.allowed_dirs", default: [],
        help: "directories POST /v1/load_lora_adapter may load from, links resolved (empty: loading at run time is off)")
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
