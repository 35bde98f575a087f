import ArgumentParser
import Foundation
import Model

/// Measures as llama-bench does: `pp` evaluates a prompt of p tokens in one
/// batch on an empty cache; `tg` generates n tokens one at a time from an empty
/// cache. Each is repeated and the mean rate printed.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Prompt-processing and generation speed, as llama-bench measures them.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .short, help: "Prompt tokens.") var p: Int = 512
    @Option(name: .short, help: "Generated tokens.") var n: Int = 128
    @Option(name: .short, help: "Repetitions.") var r: Int = 3

    func run() throws {
        let loaded = try modelOptions.load()
        let v = Int32(loaded.config.vocabSize)
        var rng = RandomSource(seed: 42)
        let prompt = (0..<p).map { _ in Int32(rng.next() % UInt64(v)) }
        let gen = Generator(loaded, capacity: max(p, n) + 1)
        _ = try gen.evaluate(Array(prompt.prefix(16)))  // warm up: page in weights
        if p > 0 {
            var rates: [Double] = []
            for _ in 0..<r {
                gen.reset()
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try gen.evaluate(prompt)
                rates.append(Double(p) / seconds(since: t0))
            }
            report("pp\(p)", rates)
        }
        if n > 0 {
            var rates: [Double] = []
            for _ in 0..<r {
                gen.reset()
                var tok = prompt.first ?? 1
                let t0 = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<n {
                    let logits = try gen.evaluate([tok])
                    tok = Int32(logits.indices.max { logits[$0] < logits[$1] } ?? 0)
                }
                rates.append(Double(n) / seconds(since: t0))
            }
            report("tg\(n)", rates)
        }
    }

    private func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }

    private func report(_ name: String, _ rates: [Double]) {
        let mean = rates.reduce(0, +) / Double(rates.count)
        let sd = (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(rates.count - 1, 1))).squareRoot()
        print("\(name) \(String(format: "%.2f", mean))")
        note("\(name): \(rates.count) runs, sd \(String(format: "%.2f", sd)) tokens/s")
    }
}
