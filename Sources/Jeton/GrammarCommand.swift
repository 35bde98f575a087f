import ArgumentParser
import Foundation
import GGUF
import Grammar
import Tokenizer

/// Compiles a grammar and checks strings against it, or measures its token masks on a
/// model's vocabulary. Hidden: for the property tests (Tests/cli/test_grammar.py) and the
/// mask benchmark, not for users.
struct GrammarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar", abstract: "Compile a grammar; check strings or measure token masks (testing).",
        shouldDisplay: false)

    @Option(help: "schema, json_object, regex, choice (a JSON array of strings) or gbnf.") var kind: String = "schema"
    @Option(help: "File holding the schema / regex / choices / grammar.") var grammar: String?
    @Option(help: "File holding a JSON array of strings: prints whether the grammar accepts each.") var strings: String?
    @Option(help: "With --strings: a model whose vocabulary tokenizes them; prints mask times per token.") var model: String?
    @Option(parsing: .unconditional, help: "Masks kept per grammar (0: none, every mask computed).") var maskCache: Int = 256
    @Option(parsing: .unconditional, help: "Indent allowed after a newline in JSON (0: compact).") var maxWhitespace: Int = GrammarLimits().maxWhitespace
    @Flag(help: "With --model: also walk the whole trie for every mask and count differences (checks the fast paths).") var verify = false

    func validate() throws {
        guard maskCache >= 0 else { throw ValidationError("--mask-cache must not be negative.") }
        guard maxWhitespace >= 0 else { throw ValidationError("--max-whitespace must not be negative.") }
    }

    func run() throws {
        let text = try grammar.map { String(decoding: try readFile($0), as: UTF8.self) } ?? ""
        var limits = GrammarLimits()
        limits.maxWhitespace = maxWhitespace
        let spec: GrammarSpec
        switch kind {
        case "schema": spec = .jsonSchema(text)
        case "json_object": spec = .jsonObject
        case "regex": spec = .regex(text)
        case "gbnf": spec = .gbnf(text)
        case "choice":
            guard let a = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else {
                throw ValidationError("--kind choice needs a JSON array of strings")
            }
            spec = .choice(a)
        default: throw ValidationError("unknown --kind \(kind)")
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let compiled: CompiledGrammar
        do {
            compiled = try spec.compile(limits: limits)
        } catch let e as GrammarError {
            let kindName = e.kind == .invalid ? "invalid" : e.kind == .unsupported ? "unsupported" : "too_large"
            emit(["ok": false, "error": e.message, "kind": kindName])
            throw ExitCode(2)
        }
        let compileMs = Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e6
        emit(["ok": true, "rules": compiled.ruleCount, "symbols": compiled.symbolCount, "compile_ms": compileMs])
        guard let strings else { return }
        guard let items = (try? JSONSerialization.jsonObject(with: Data(try readFile(strings)))) as? [String] else {
            throw ValidationError("--strings needs a JSON array of strings")
        }
        if let model { return try measure(compiled, items, model: model) }
        emit(["accept": items.map { compiled.accepts(Array($0.utf8)) }])
    }

    /// Walks each string's tokens as a sequence would: a mask before each token, then the token.
    private func measure(_ compiled: CompiledGrammar, _ items: [String], model: String) throws {
        let file = try GGUFFile(path: try ModelStore().resolve(model))
        let tokenizer = try Tokenizer(try TokenizerVocabulary(metadata: file.metadata))
        let t0 = DispatchTime.now().uptimeNanoseconds
        let trie = TokenTrie(tokenizer: tokenizer)
        let trieMs = Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e6
        let t1 = DispatchTime.now().uptimeNanoseconds
        // Binding builds the vocabulary's JSON-text summary (CharLoop) on first use.
        let g = TokenGrammar(grammar: compiled, trie: trie, maxCachedMasks: maskCache)
        let bindMs = Double(DispatchTime.now().uptimeNanoseconds &- t1) / 1e6
        var times: [Double] = [], missTimes: [Double] = [], textTimes: [Double] = [], cpuTimes: [Double] = []
        // Thread CPU time beside wall time: on a shared machine the wall clock counts preemptions.
        func cpuNow() -> UInt64 {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
        }
        var hits = 0, refused = 0, mismatches = 0
        for s in items {
            var m = g.matcher()
            for tok in tokenizer.encode(s, addSpecial: false, parseSpecial: false) {
                let text0 = g.textMasks
                let c0 = cpuNow()
                let a = DispatchTime.now().uptimeNanoseconds
                let (mask, hit) = g.mask(for: m.stacks)
                cpuTimes.append(Double(cpuNow() &- c0) / 1e3)
                let us = Double(DispatchTime.now().uptimeNanoseconds &- a) / 1e3
                times.append(us)
                if hit { hits += 1 } else if g.textMasks > text0 { textTimes.append(us) } else { missTimes.append(us) }
                if verify && g.walkedMask(for: m.stacks) != mask { mismatches += 1 }
                if !mask.contains(tok) || !m.accept(token: tok) { refused += 1; break }
            }
        }
        func pct(_ xs: [Double], _ p: Double) -> Double {
            guard !xs.isEmpty else { return 0 }
            let s = xs.sorted()
            return s[min(s.count - 1, Int(Double(s.count - 1) * p))]
        }
        emit(["vocabulary": tokenizer.vocabularySize, "trie_nodes": trie.nodeCount, "trie_ms": trieMs, "bind_ms": bindMs,
              "tokens": times.count, "cache_hits": hits, "refused": refused, "computed": g.computedMasks,
              "text_masks": g.textMasks, "mismatches": mismatches, "state_sets": g.walksStateSets,
              "mask_us_median": pct(times, 0.5), "mask_us_p99": pct(times, 0.99), "mask_us_max": pct(times, 1),
              "mask_cpu_us_median": pct(cpuTimes, 0.5), "mask_cpu_us_p99": pct(cpuTimes, 0.99), "mask_cpu_us_max": pct(cpuTimes, 1),
              "walk_us_median": pct(missTimes, 0.5), "walk_us_p99": pct(missTimes, 0.99), "walk_us_max": pct(missTimes, 1),
              "text_us_median": pct(textTimes, 0.5), "text_us_p99": pct(textTimes, 0.99), "text_us_max": pct(textTimes, 1)])
    }

    private func emit(_ o: [String: Any]) {
        // A figure that is not a finite number (no samples) cannot be JSON: say so instead of trapping.
        guard JSONSerialization.isValidJSONObject(o), let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else {
            print("{\"error\": \"no finite figures to report\"}")
            return
        }
        print(String(decoding: d, as: UTF8.self))
    }
}
