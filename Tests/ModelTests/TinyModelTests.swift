import Foundation
import XCTest
import Kernels
@testable import Model

/// Tiny random-weight models of the llama (SentencePiece vocabulary), qwen2 and gemma3
/// architectures against float64 numpy references of each (scripts/make_tiny_models.py,
/// Fixtures/tiny). Error measure per logits row: max |jeton − ref| / max |ref|.
final class TinyModelTests: XCTestCase {
    struct Fixture: Decodable {
        struct Sequence: Decodable { let ids: [Int32]; let logits: [[Float]] }
        struct TokenizeCase: Decodable { let text: String; let ids: [Int32] }
        let architecture: String
        let sequences: [Sequence]
        let tokenize: [TokenizeCase]
    }

    static let tolerance: Float = 1e-3

    static func fixtureURL(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tiny").appendingPathComponent(name)
    }

    func load(_ name: String) throws -> (LoadedModel, Fixture) {
        let model = try LoadedModel(path: Self.fixtureURL("\(name).tiny.gguf").path, threads: 2)
        let data = try Data(contentsOf: Self.fixtureURL("\(name).logits.json"))
        return (model, try JSONDecoder().decode(Fixture.self, from: data))
    }

    /// max over rows of max |a − r| / max |r|; a: [rows, vocab] flattened.
    func relativeError(_ a: [Float], _ ref: [[Float]], vocab: Int) -> Float {
        var worst: Float = 0
        for (i, row) in ref.enumerated() {
            let scale = row.map(abs).max() ?? 1
            var d: Float = 0
            for j in 0..<vocab { d = max(d, abs(a[i * vocab + j] - row[j])) }
            worst = max(worst, d / scale)
        }
        return worst
    }

    /// One sequence at a time, prompts fed in chunks of 5 so the cache is read across steps.
    func checkSequential(_ name: String) throws {
        let (model, fixture) = try load(name)
        XCTAssertEqual(model.config.architecture, fixture.architecture)
        // f32 cache: this checks the architecture's arithmetic against float reference logits;
        // the f16 cache is covered by the real-model agreement and perplexity tests.
        let gen = Generator(model, capacity: 128, chunkSize: 5, cacheType: .f32)
        var worst: Float = 0
        for s in fixture.sequences {
            gen.reset()
            let logits = try gen.evaluate(s.ids, all: true)
            XCTAssertEqual(logits.count, s.ids.count * model.config.vocabSize)
            worst = max(worst, relativeError(logits, s.logits, vocab: model.config.vocabSize))
        }
        print("tiny \(name): max relative logit error \(worst) (one sequence at a time)")
        XCTAssertLessThan(worst, Self.tolerance, name)
    }

    /// All sequences in one batch over a shared paged cache with interleaved blocks.
    func checkBatched(_ name: String) throws {
        let (model, fixture) = try load(name)
        let blockSize = 4
        let cache = model.model.makeCacheStorage(tokens: 128, blockSize: blockSize, type: .f32)
        var next: Int32 = 0
        var tables = [[Int32]](repeating: [], count: fixture.sequences.count)
        // Hand out blocks round-robin so no sequence's blocks are contiguous.
        for b in 0..<(128 / blockSize) {
            let s = b % fixture.sequences.count
            if tables[s].count * blockSize < fixture.sequences[s].ids.count { tables[s].append(next); next += 1 }
        }
        let batch = fixture.sequences.enumerated().map { i, s in
            BatchSequence(tokens: s.ids, startPosition: 0, blockTable: tables[i], logits: .all)
        }
        let logits = try model.model.forward(batch, cache: cache)
        let v = model.config.vocabSize
        var offset = 0, worst: Float = 0
        for s in fixture.sequences {
            let part = Array(logits[(offset * v)..<((offset + s.ids.count) * v)])
            worst = max(worst, relativeError(part, s.logits, vocab: v))
            offset += s.ids.count
        }
        print("tiny \(name): max relative logit error \(worst) (batched)")
        XCTAssertLessThan(worst, Self.tolerance, name)
    }

    func checkTokenizer(_ name: String) throws {
        let (model, fixture) = try load(name)
        for c in fixture.tokenize {
            XCTAssertEqual(model.tokenizer.encode(c.text), c.ids, "\(name): \(c.text.debugDescription)")
        }
    }

    func testLlamaSentencePieceLogits() throws { try checkSequential("llama-spm") }
    func testLlamaSentencePieceBatched() throws { try checkBatched("llama-spm") }
    func testLlamaSentencePieceTokenizer() throws { try checkTokenizer("llama-spm") }

    func testQwen2Logits() throws { try checkSequential("qwen2") }
    func testQwen2Batched() throws { try checkBatched("qwen2") }
    func testQwen2Tokenizer() throws { try checkTokenizer("qwen2") }

    func testGemma3Logits() throws { try checkSequential("gemma3") }
    func testGemma3Batched() throws { try checkBatched("gemma3") }

    /// Sequences asking for their last row's logits, none, or all, in one batch: the last layer
    /// finishes only the rows that get logits, and each of those rows is bit for bit the row the
    /// batch gives when every row gets logits (and within the float64 reference's tolerance).
    func checkMixedLogits(_ name: String) throws {
        let (model, fixture) = try load(name)
        let v = model.config.vocabSize, blockSize = 4
        // Each fixture sequence twice, the modes in turn: last, none, all, last.
        let seqs = fixture.sequences + fixture.sequences
        let modes: [BatchSequence.Logits] = [.last, .none, .all, .last]
        var tables: [[Int32]] = [], next: Int32 = 0
        for s in seqs {
            let blocks = (s.ids.count + blockSize - 1) / blockSize
            tables.append((0..<blocks).map { next + Int32($0) })
            next += Int32(blocks)
        }
        let run = { (modes: [BatchSequence.Logits]) in
            try model.model.forward(seqs.indices.map {
                BatchSequence(tokens: seqs[$0].ids, startPosition: 0, blockTable: tables[$0], logits: modes[$0 % modes.count])
            }, cache: model.model.makeCacheStorage(tokens: Int(next) * blockSize, blockSize: blockSize, type: .f32))
        }
        let all = try run([.all]), mixed = try run(modes)
        // The rows each sequence should get, as (row of `all`, reference row).
        var expected: [(Int, [Float])] = [], offset = 0
        for (i, s) in seqs.enumerated() {
            switch modes[i % modes.count] {
            case .none: break
            case .last: expected.append((offset + s.ids.count - 1, s.logits[s.ids.count - 1]))
            case .all: expected += s.ids.indices.map { (offset + $0, s.logits[$0]) }
            }
            offset += s.ids.count
        }
        XCTAssertEqual(mixed.count, expected.count * v, name)
        guard mixed.count == expected.count * v else { return }
        for (j, (row, ref)) in expected.enumerated() {
            let got = Array(mixed[(j * v)..<((j + 1) * v)]), want = Array(all[(row * v)..<((row + 1) * v)])
            let differ = (0..<v).filter { got[$0] != want[$0] }.count
            XCTAssertEqual(differ, 0, "\(name): row \(j) differs from the all-logits row \(row) in \(differ) of \(v) logits")
            XCTAssertLessThan(relativeError(got, [ref], vocab: v), Self.tolerance, "\(name): row \(j)")
        }
    }

    /// A prompt in chunks of 5 with logits on its last token only: the chunks before skip the
    /// last layer's feed-forward block, and what they stored in the cache still gives the last
    /// token the reference's logits (and the all-logits pass's, bit for bit).
    func checkChunksWithoutLogits(_ name: String) throws {
        let (model, fixture) = try load(name)
        let v = model.config.vocabSize
        for s in fixture.sequences {
            // Each pass with a cache of its own: a shared one would still hold the other's keys.
            let all = try Generator(model, capacity: 128, chunkSize: 5, cacheType: .f32).evaluate(s.ids, all: true)
            let last = try Generator(model, capacity: 128, chunkSize: 5, cacheType: .f32).evaluate(s.ids)
            XCTAssertEqual(last.count, v, name)
            guard last.count == v else { continue }
            let want = Array(all[((s.ids.count - 1) * v)...])
            XCTAssertEqual((0..<v).filter { last[$0] != want[$0] }.count, 0, "\(name): logits differing from the all-logits pass")
            XCTAssertLessThan(relativeError(last, [s.logits[s.ids.count - 1]], vocab: v), Self.tolerance, name)
        }
    }

    func testLlamaChunksWithoutLogits() throws { try checkChunksWithoutLogits("llama-spm") }
    func testQwen2ChunksWithoutLogits() throws { try checkChunksWithoutLogits("qwen2") }
    func testGemma3ChunksWithoutLogits() throws { try checkChunksWithoutLogits("gemma3") }

    func testLlamaMixedLogits() throws { try checkMixedLogits("llama-spm") }
    func testQwen2MixedLogits() throws { try checkMixedLogits("qwen2") }
    func testGemma3MixedLogits() throws { try checkMixedLogits("gemma3") }

    /// A model limited to its first tokens' logits (a draft's proposal vocabulary) gives those
    /// logits as the whole model does and -infinity for the rest, batched and alone.
    func testLogitRowsLimitTheVocabulary() throws {
        let path = Self.fixtureURL("qwen2.tiny.gguf").path
        let whole = try LoadedModel(path: path, threads: 2)
        let v = whole.config.vocabSize, n = v / 3
        let part = try LoadedModel(path: path, threads: 2, logitRows: n)
        XCTAssertEqual(part.model.logitRows, n)
        let ids: [Int32] = [1, 5, 9, 2, 7]
        for logits in [BatchSequence.Logits.all, .last] {
            let run = { (m: LoadedModel) in
                try m.model.forward([BatchSequence(tokens: ids, startPosition: 0, blockTable: [0, 1], logits: logits)],
                                    cache: m.model.makeCacheStorage(tokens: 8, blockSize: 4, type: .f32))
            }
            let a = try run(whole), b = try run(part)
            XCTAssertEqual(a.count, b.count)
            for r in 0..<(a.count / v) {
                XCTAssertEqual(Array(b[(r * v)..<(r * v + n)]), Array(a[(r * v)..<(r * v + n)]), "row \(r)")
                XCTAssertTrue(b[(r * v + n)..<((r + 1) * v)].allSatisfy { $0 == -.infinity }, "row \(r)")
            }
        }
    }

    /// Past the first tokens, each sequence's `alsoScored` tokens get the whole model's logits
    /// (a draft scoring a sequence's own rare tokens); another sequence's stay -infinity, and a
    /// sequence's row is the same alone as beside one asking for other tokens.
    func testAlsoScoredTokensGetTheirLogitsPerSequence() throws {
        let path = Self.fixtureURL("qwen2.tiny.gguf").path
        let whole = try LoadedModel(path: path, threads: 2)
        let v = whole.config.vocabSize, n = v / 4
        let part = try LoadedModel(path: path, threads: 2, logitRows: n)
        let own: [[Int32]] = [[Int32(n + 3), Int32(v - 1), 2, Int32(n + 40)], [Int32(n + 40), Int32(n + 7)]]
        let prompts: [[Int32]] = [[1, 5, 9, 2, 7], [3, 8, 4]]
        func sequences(_ which: [Int], also: Bool) -> [BatchSequence] {
            which.map { i in
                var s = BatchSequence(tokens: prompts[i], startPosition: 0, blockTable: i == 0 ? [0, 1] : [2, 3])
                if also { s.alsoScored = own[i] }
                return s
            }
        }
        let cache = { (m: LoadedModel) in m.model.makeCacheStorage(tokens: 16, blockSize: 4, type: .f32) }
        let a = try whole.model.forward(sequences([0, 1], also: false), cache: cache(whole))
        let b = try part.model.forward(sequences([0, 1], also: true), cache: cache(part))
        let alone = try part.model.forward(sequences([0], also: true), cache: cache(part))
        XCTAssertEqual(b.count, 2 * v)
        for r in 0..<2 {
            let scored = Set((0..<n).map(Int32.init)).union(own[r])
            for t in 0..<v {
                if scored.contains(Int32(t)) {
                    XCTAssertEqual(b[r * v + t], a[r * v + t], "row \(r) token \(t)")
                } else {
                    XCTAssertEqual(b[r * v + t], -.infinity, "row \(r) token \(t)")
                }
            }
        }
        XCTAssertEqual(Array(b[0..<v]), alone)
        // A sequence scoring the whole vocabulary gets every logit, its neighbour only its own.
        var both = sequences([0, 1], also: true)
        both[1].scoresWholeVocabulary = true
        let c = try part.model.forward(both, cache: cache(part))
        XCTAssertEqual(Array(c[v..<(2 * v)]), Array(a[v..<(2 * v)]))
        XCTAssertEqual(Array(c[0..<v]), alone)
    }

    /// A shrunk draft (`LoadedModel(shrink:)`): its wider matrices and its output's first rows are
    /// Q4_0 copies, fewer bytes per token; its logits stay close to the file's (Q4_0 rounding),
    /// -infinity past the first rows but for a sequence's own tokens, and a row's the same alone
    /// and beside another sequence.
    func testShrunkModelReadsQ4_0CopiesAndStaysCloseToTheFile() throws {
        let path = Self.fixtureURL("qwen2.tiny.gguf").path
        let whole = try LoadedModel(path: path, threads: 2)
        let v = whole.config.vocabSize, n = v / 2
        let shrunk = try LoadedModel(path: path, threads: 2, logitRows: n, shrink: true)
        XCTAssertTrue(shrunk.shrunk)
        let w = shrunk.model.weights
        for l in w.layers {
            XCTAssertEqual([l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown].map(\.type), Array(repeating: .q4_0, count: 7))
        }
        XCTAssertEqual(w.shrunkOutput?.type, .q4_0)
        // On AVX2 and AVX-512 VNNI the copies exist only in the packed layout their kernels read.
        let packs = (MatMul.defaultBackend == .avx2 || MatMul.defaultBackend == .avx512) && PackedWeights().enabled
        XCTAssertEqual(w.layers[0].wq.onlyPacked, packs)
        XCTAssertEqual(w.shrunkOutput?.onlyPacked, packs)
        XCTAssertEqual(w.shrunkOutput?.rows, n)
        XCTAssertEqual(w.embedding.type, whole.model.weights.embedding.type, "the embedding stays the file's")
        XCTAssertLessThan(w.bytesReadPerToken * 5, whole.model.weights.bytesReadPerToken, "F32 to Q4_0: 7.1x fewer bytes")
        let prompts: [[Int32]] = [[1, 5, 9, 2, 7], [3, 8, 4]]
        let own = Int32(n + 5)
        func batch(_ which: [Int]) -> [BatchSequence] {
            which.map { i in
                var s = BatchSequence(tokens: prompts[i], startPosition: 0, blockTable: i == 0 ? [0, 1] : [2, 3])
                s.alsoScored = [own]
                return s
            }
        }
        let cache = { (m: LoadedModel) in m.model.makeCacheStorage(tokens: 16, blockSize: 4, type: .f32) }
        let a = try whole.model.forward(batch([0, 1]), cache: cache(whole))
        let b = try shrunk.model.forward(batch([0, 1]), cache: cache(shrunk))
        let alone = try shrunk.model.forward(batch([0]), cache: cache(shrunk))
        XCTAssertEqual(b.count, 2 * v)
        XCTAssertEqual(Array(b[0..<v]), alone)
        for r in 0..<2 {
            let x = Array(a[(r * v)..<(r * v + n)]), y = Array(b[(r * v)..<(r * v + n)])
            // The error's RMS against the logits' own (random weights in Q4_0: under a fifth).
            let rms = { (v: [Float]) in (v.map { $0 * $0 }.reduce(0, +) / Float(v.count)).squareRoot() }
            let error = rms(zip(x, y).map { $0 - $1 }) / rms(x)
            print("tiny qwen2 shrunk: row \(r) logit error \(error) of their RMS")
            XCTAssertLessThan(error, 0.3, "row \(r)")
            XCTAssertGreaterThan(error, 0, "row \(r): Q4_0 copies, not the file's weights")
            XCTAssertTrue(b[r * v + Int(own)].isFinite, "a sequence's own token past the rows is scored")
            for t in n..<v where t != Int(own) { XCTAssertEqual(b[r * v + t], -.infinity, "row \(r) token \(t)") }
        }
    }

    func testConfigsReadPerArchitectureTraits() throws {
        let (llama, _) = try load("llama-spm")
        XCTAssertEqual(llama.config.family, .llama)
        XCTAssertEqual(llama.config.ropeLayout, .normal)
        XCTAssertNil(llama.config.slidingWindow)
        XCTAssertEqual(llama.config.quantization, "F32")  // no general.file_type; F32 holds most bytes
        // Its prompts run mostly on float weights (`jeton bench` measures them against the f32
        // FMA peak): 8 of its 9 parts of layer multiply-adds are F32 matrices'.
        let w = llama.model.weights
        XCTAssertEqual(w.layerMACsPerToken(of: [.f16, .bf16, .f32]) * 9, w.layerMACsPerToken * 8)
        XCTAssertEqual(w.layerMACsPerToken(of: nil), w.layerMACsPerToken)
        XCTAssertEqual(w.layerMACsPerToken(of: [.q4_K]), 0)
        XCTAssertNil(llama.model.weights.layers[0].qBias)

        let (qwen, _) = try load("qwen2")
        XCTAssertEqual(qwen.config.ropeLayout, .neox)
        XCTAssertNotNil(qwen.model.weights.layers[1].vBias)
        XCTAssertEqual(qwen.config.rmsEps, 1e-6, accuracy: 1e-9)

        let (gemma, _) = try load("gemma3")
        let c = gemma.config
        XCTAssertEqual(c.slidingWindow, 4)
        XCTAssertEqual(c.slidingLayers, [true, true, true, true, true, false])
        XCTAssertEqual(c.window(layer: 0), 4)
        XCTAssertNil(c.window(layer: 5))
        XCTAssertEqual(c.ropeBase, 1_000_000)
        XCTAssertEqual(c.localRopeBase, 10_000)
        XCTAssertEqual(c.embeddingScale ?? 0, 8, accuracy: 1e-6)
        XCTAssertEqual(c.quantization, "F16")
        XCTAssertNotNil(gemma.model.weights.layers[0].postFFNNorm)
    }

    /// A hostile block_count is refused before anything is sized by it (it once sized an array).
    func testHostileBlockCountIsRefused() throws {
        var bytes = try Data(contentsOf: Self.fixtureURL("qwen2.tiny.gguf"))
        let key = Data("qwen2.block_count".utf8)
        guard let r = bytes.range(of: key) else { return XCTFail("key not in fixture") }
        // The key is followed by its u32 type tag (4 = uint32) and the value.
        let typeAt = r.upperBound
        XCTAssertEqual(bytes[typeAt], 4)
        for i in 0..<4 { bytes[typeAt + 4 + i] = 0xFF }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(getpid()).gguf")
        try bytes.write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        XCTAssertThrowsError(try LoadedModel(path: path.path, threads: 1)) { error in
            XCTAssertTrue("\(error)".contains("block_count"), "\(error)")
        }
    }
}
