import XCTest
@testable import Jeton

/// The configuration's layers and checks, through the typed keys the server reads.
final class ConfigTests: XCTestCase {
    func testEverySettingIsListedOnceWithAKindFittingItsDefault() {
        let keys = Setting.all.map(\.key)
        XCTAssertEqual(keys.count, 78)
        XCTAssertEqual(Set(keys).count, keys.count, "a key declared twice")
        var seen: [String] = []
        for s in Setting.all {
            let parts = s.key.split(separator: ".", omittingEmptySubsequences: false)
            XCTAssertEqual(parts.count, 2, s.key)
            XCTAssertTrue(parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLowercase || $0 == "_" } }, s.key)
            // Sections are contiguous, so the YAML file and --print-config group them.
            if seen.last != s.section { XCTAssertFalse(seen.contains(s.section), s.key); seen.append(s.section) }
            // Every default passes its own kind's check.
            XCTAssertNoThrow(try JetonConfig.parse(Self.text(s.defaultValue), for: s, source: "default"), s.key)
        }
        XCTAssertEqual(Setting.sections, seen)
    }

    func testTypedKeysReadTheDefaults() {
        let c = JetonConfig()
        XCTAssertEqual(c[\.serverPort], 8080)
        XCTAssertEqual(c[\.serverHost], "127.0.0.1")
        XCTAssertEqual(c[\.serverHeaderTimeout], 10)
        XCTAssertEqual(c[\.engineCacheType], "f16")
        XCTAssertTrue(c[\.engineMaxBatchTokens] == 512 && c[\.engineMaxSequences] == 64)
        XCTAssertTrue(c[\.serverGzip])
        XCTAssertFalse(c[\.loggingLogPrompts])
        XCTAssertEqual(c[\.authAPIKeys], [])
        XCTAssertEqual(c[\.confidenceThreshold], 0.3)
    }

    func testLayersOverrideInOrder() throws {
        var c = JetonConfig()
        try c.apply(yaml: "server:\n  port: 9001\n  host: 0.0.0.0\nengine:\n  max_sequences: 7\n  cache_type: f32\n",
                    source: "c.yaml")
        try c.apply(environment: ["JETON_SERVER_PORT": "9002", "JETON_ENGINE_MAX_SEQUENCES": "8",
                                  "JETON_AUTH_API_KEYS": "a:12345678, b:87654321"])
        try c.apply(flag: ConfigKeys.shared.engineMaxSequences.setting, "9", name: "--max-sequences")
        XCTAssertEqual(c[\.serverPort], 9002)
        XCTAssertEqual(c[\.serverHost], "0.0.0.0")
        try c.apply(environment: ["JETON_SERVER_HOST": "[::1]"])
        XCTAssertEqual(c[\.serverHost], "::1")
        XCTAssertEqual(c[\.engineMaxSequences], 9)
        XCTAssertEqual(c[\.engineCacheType], "f32")
        XCTAssertEqual(c[\.authAPIKeys], ["a:12345678", "b:87654321"])
        XCTAssertEqual(c.sources["server.port"], "JETON_SERVER_PORT")
        XCTAssertEqual(c.sources["engine.max_sequences"], "command line")
        XCTAssertTrue(c.warnings.isEmpty)
    }

    func testUnknownKeysStopWithTheLikelySetting() {
        func failure(_ yaml: String) -> String {
            var c = JetonConfig()
            do { try c.apply(yaml: yaml, source: "c.yaml") } catch { return "\(error)" }
            return "accepted"
        }
        XCTAssertEqual(failure("server:\n  prot: 1\n"), "c.yaml: unknown setting server.prot (did you mean server.port?)")
        XCTAssertEqual(failure("engine:\n  max_sequence: 3\n"),
                       "c.yaml: unknown setting engine.max_sequence (did you mean engine.max_sequences?)")
        XCTAssertEqual(failure("server:\n  model_path: x\n"), "c.yaml: unknown setting server.model_path")
        XCTAssertTrue(failure("sever:\n  port: 1\n").hasPrefix("c.yaml: unknown setting sever.port: no section sever (did you mean server?)"))
        XCTAssertTrue(failure("foo:\n  port: 1\n").contains("no section foo (sections: server, tls, model"))
        XCTAssertEqual(failure("engine:\n  cache_tokens: lots\n"), "c.yaml: engine.cache_tokens must be an integer, got \"lots\"")
        XCTAssertEqual(failure("port: 1\n"), "c.yaml: port must be a section holding settings")
        XCTAssertEqual(failure("server:\n  port: 8081\n"), "accepted")
    }

    func testMisspeltEnvironmentVariablesWarn() throws {
        var c = JetonConfig()
        try c.apply(environment: ["JETON_SERVER_PROT": "1", "JETON_RATE_LIMITS_RPM": "5", "JETON_SERVER_PORT": "8081",
                                  // Not in a settings section: variables of other parts of Jeton, left alone.
                                  "JETON_MODELS": "/m", "JETON_MODELS_DIR": "/m", "JETON_KERNELS": "avx2", "JETON_BIN": "x",
                                  "JETON_AMX": "0", "JETON_REPACK": "0", "JETON_STREAM_PREFETCH": "l2",
                                  // A misspelt section, close to a setting's name.
                                  "JETON_SERVRE_PORT": "9000"])
        XCTAssertEqual(c.warnings, ["JETON_RATE_LIMITS_RPM is not a setting; ignored",
                                    "JETON_SERVER_PROT is not a setting (did you mean JETON_SERVER_PORT?); ignored",
                                    "JETON_SERVRE_PORT is not a setting (did you mean JETON_SERVER_PORT?); ignored"])
        XCTAssertEqual(c[\.serverPort], 8081)
    }

    func testNearestNeedsACloseName() {
        XCTAssertEqual(JetonConfig.nearest("server.prot", among: ["server.port", "server.host"]), "server.port")
        XCTAssertNil(JetonConfig.nearest("server.port", among: ["server.port"]))  // itself is no slip
        XCTAssertNil(JetonConfig.nearest("tls.keyfile", among: ["server.port", "server.host"]))
        XCTAssertEqual(JetonConfig.editDistance(Array("kitten".utf8), Array("sitting".utf8)), 3)
        XCTAssertEqual(JetonConfig.editDistance([], Array("abc".utf8)), 3)
    }

    func testModelsListFillsEachModelFromTheGlobalSettings() throws {
        var c = JetonConfig()
        XCTAssertEqual(c.servedModels, [Self.spec("default", threads: 0, context: 0, cache: 16384, waiting: 1024)])
        try c.apply(yaml: """
            model:
              path: other.gguf
              name: solo
              threads: 2
            engine:
              cache_tokens: 4096
            models:
              - path: default
                name: chat
                aliases: [c, talk]
                threads: 1
                max_waiting: 5
              - nomic-embed-text-v1.5
              - path: qwen.gguf
                aliases: q
                context_length: 2048
                cache_tokens: 999
            """, source: "c.yaml")
        var chat = Self.spec("default", threads: 1, context: 0, cache: 4096, waiting: 5)
        chat.name = "chat"
        chat.aliases = ["c", "talk"]
        var qwen = Self.spec("qwen.gguf", threads: 2, context: 2048, cache: 999, waiting: 1024)
        qwen.aliases = ["q"]
        XCTAssertEqual(c.servedModels, [chat, Self.spec("nomic-embed-text-v1.5", threads: 2, context: 0, cache: 4096, waiting: 1024), qwen])
        // Without the list, model.path alone, named by model.name.
        c.setModels([], source: "flags")
        var solo = Self.spec("other.gguf", threads: 2, context: 0, cache: 4096, waiting: 1024)
        solo.name = "solo"
        XCTAssertEqual(c.servedModels, [solo])
    }

    /// Found by a sweep: values of the wrong shape were read as their debug text (a key written
    /// `- team: sk-...` became `["team": "sk-..."]` and matched nothing), a key list of only commas
    /// in the environment turned authentication off, flags were named by their setting.
    func testWrongShapesAndEmptyKeyListsAreRefused() throws {
        for (yaml, needle) in [("auth:\n  api_keys:\n    - team: sk-abcdefghij\n", "auth.api_keys must be a list of strings"),
                               ("auth:\n  api_keys: [[a, b]]\n", "must be a list of strings"),
                               ("server:\n  host: {a: b}\n", "server.host must be a single value"),
                               ("server:\n  host: [a, b]\n", "server.host must be a single value"),
                               ("server:\n  host: \"  \"\n", "server.host must be a host name"),
                               ("models:\n  - {path: [a]}\n", "models[0].path must be a single value"),
                               ("models:\n  - {path: a, name: {a: 1}}\n", "models[0].name must be a single value")] {
            var c = JetonConfig()
            XCTAssertThrowsError(try c.apply(yaml: yaml, source: "f.yaml"), yaml) {
                XCTAssertTrue("\($0)".contains(needle), "\($0)")
            }
        }
        for keys in [",", " , ", ",,"] {
            var c = JetonConfig()
            XCTAssertThrowsError(try c.apply(environment: ["JETON_AUTH_API_KEYS": keys])) { XCTAssertTrue("\($0)".contains("holds no key"), "\($0)") }
        }
        var c = JetonConfig()
        try c.apply(yaml: "auth:\n  api_keys: [\"team:sk-abcdefghij\", 12345678]\n", source: "f.yaml")
        XCTAssertEqual(c[\.authAPIKeys], ["team:sk-abcdefghij", "12345678"])
        try c.apply(environment: ["JETON_SERVER_HOST": " 0.0.0.0 "])
        XCTAssertEqual(c[\.serverHost], "0.0.0.0")
        try c.apply(environment: ["JETON_SERVER_HOST": "[::1]"])
        XCTAssertEqual(c[\.serverHost], "::1")
        XCTAssertThrowsError(try c.apply(flag: ConfigKeys.shared.modelThreads.setting, "-1", name: "--threads")) {
            XCTAssertTrue("\($0)".hasPrefix("--threads: model.threads must be"), "\($0)")
        }
    }

    func testBadModelsEntriesNameTheEntryAndField() {
        for (yaml, needle) in [("models:\n  - {name: x}\n", "models[0] needs a path"),
                               ("models:\n  - path: a\n  - {path: b, cach_tokens: 64}\n", "models[1]: unknown field cach_tokens (did you mean cache_tokens?)"),
                               ("models:\n  - {path: a, threads: -1}\n", "models[0].threads: model.threads must be between 0"),
                               ("models:\n  - {path: a, max_waiting: many}\n", "must be an integer"),
                               ("models:\n  - [a]\n", "models[0] must be a mapping"),
                               ("models: a.gguf\n", "models must be a list")] {
            var c = JetonConfig()
            XCTAssertThrowsError(try c.apply(yaml: yaml, source: "f.yaml"), yaml) {
                XCTAssertTrue("\($0)".contains(needle), "\($0)")
            }
        }
    }

    static func spec(_ path: String, threads: Int, context: Int, cache: Int, waiting: Int) -> ModelSpec {
        var s = ModelSpec(path: path)
        s.threads = threads
        s.contextLength = context
        s.cacheTokens = cache
        s.maxWaiting = waiting
        return s
    }

    /// A value as a flag would spell it.
    static func text(_ v: ConfigValue) -> String {
        switch v {
        case let .int(i): return String(i)
        case let .double(d): return String(d)
        case let .bool(b): return String(b)
        case let .string(s): return s
        case let .list(l): return l.joined(separator: ",")
        }
    }
}
