import Foundation

/// The statistics `llama-perplexity --kl-divergence` prints, computed the same way and
/// printed with the same labels and formats, so the two tools' outputs read side by side
/// (and scripts written for one parse the other).
struct KLDivergenceReport {
    // Sums over scored positions, as llama.cpp's kl_divergence_result.
    private(set) var count = 0
    private var sumNLL = 0.0, sumNLL2 = 0.0
    private var sumNLLBase = 0.0, sumNLLBase2 = 0.0, sumNLLNLLBase = 0.0
    private var sumKLD = 0.0, sumKLD2 = 0.0
    private var sumPDiff = 0.0, sumPDiff2 = 0.0, sumPDiff4 = 0.0
    private var sameTop = 0
    private var klds: [Float] = []    // per position, for the percentiles
    private var pDiffs: [Float] = []

    mutating func add(_ c: LogProbRow.Comparison) {
        let nll = Double(c.nll), base = Double(c.nllBase), d = Double(c.pDiff)
        sumNLL += nll; sumNLL2 += nll * nll
        sumNLLBase += base; sumNLLBase2 += base * base
        sumNLLNLLBase += nll * base
        sumKLD += c.kld; sumKLD2 += c.kld * c.kld
        sumPDiff += d; sumPDiff2 += d * d; sumPDiff4 += d * d * d * d
        if c.sameTop { sameTop += 1 }
        count += 1
        klds.append(Float(c.kld))
        pDiffs.append(c.pDiff)
    }

    /// Mean and its standard error, as llama.cpp's mean_and_uncertainty.
    private func mean(_ sum: Double, _ sum2: Double) -> (Double, Double) {
        guard count >= 1 else { return (0, 0) }
        let f = sum / Double(count)
        let v = sum2 / Double(count) - f * f
        return (f, v > 0 && count > 10 ? (v / Double(count - 1)).squareRoot() : 0)
    }

    private func covariance(_ a: Double, _ b: Double, _ ab: Double) -> Double {
        guard count >= 10 else { return 0 }
        let n = Double(count)
        return (ab / n - (a / n) * (b / n)) / (n - 1)
    }

    static let tableHeader =
        "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p"

    /// The running line llama-perplexity prints after each chunk (1-based).
    func chunkLine(_ chunk: Int) -> String {
        let lp = mean(sumNLL, sumNLL2), lb = mean(sumNLLBase, sumNLLBase2)
        let cov = covariance(sumNLL, sumNLLBase, sumNLLNLLBase)
        let ppl = exp(lp.0)
        let ratio = lp.0 - lb.0, ratioUnc = (lp.1 * lp.1 + lb.1 * lb.1 - 2 * cov).squareRoot()
        let kld = mean(sumKLD, sumKLD2)
        let mse = mean(sumPDiff2, sumPDiff4)
        let rms = mse.0.squareRoot(), rmsUnc = 0.5 / rms * mse.1
        let top = Double(sameTop) / Double(count), topUnc = (top * (1 - top) / Double(count - 1)).squareRoot()
        return f("%4ld", chunk) + f("    %9.4f ± %9.4f", ppl, ppl * lp.1) + f("    %10.5f ± %10.5f", ratio, ratioUnc)
            + f("    %10.5f ± %10.5f", kld.0, kld.1) + f("    %6.3f ± %6.3f %%", 100 * rms, 100 * rmsUnc)
            + f("    %6.3f ± %6.3f %%", 100 * top, 100 * topUnc)
    }

    /// The three closing sections of llama-perplexity's output.
    func summary() -> [String] {
        guard count > 0 else { return ["no scored positions"] }
        let k = klds.sorted(), p = pDiffs.sorted()
        let lp = mean(sumNLL, sumNLL2), lb = mean(sumNLLBase, sumNLLBase2)
        let ppl = exp(lp.0), pplUnc = ppl * lp.1
        let base = exp(lb.0), baseUnc = base * lb.1
        let cov = covariance(sumNLL, sumNLLBase, sumNLLNLLBase)
        let ratio = lp.0 - lb.0, ratioUnc = (lp.1 * lp.1 + lb.1 * lb.1 - 2 * cov).squareRoot()
        let pplCov = ppl * base * cov
        var out = ["====== Perplexity statistics ======"]
        out.append(f("Mean PPL(Q)                   : %10.6f ± %10.6f", ppl, pplUnc))
        out.append(f("Mean PPL(base)                : %10.6f ± %10.6f", base, baseUnc))
        out.append(f("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%", 100 * cov / (lp.1 * lb.1)))
        out.append(f("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f", ratio, ratioUnc))
        out.append(f("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f", exp(ratio), exp(ratio) * ratioUnc))
        out.append(f("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f", ppl - base,
                     (pplUnc * pplUnc + baseUnc * baseUnc - 2 * pplCov).squareRoot()))
        out.append("")

        out.append("====== KL divergence statistics ======")
        let kld = mean(sumKLD, sumKLD2)
        out.append(f("Mean    KLD: %10.6f ± %10.6f", kld.0, kld.1))
        out.append(f("Maximum KLD: %10.6f", Double(k[k.count - 1])))
        for (label, q) in [("99.9%%", 0.999), ("99.0%%", 0.99), ("95.0%%", 0.95), ("90.0%%", 0.9)] as [(String, Float)] {
            out.append(f("\(label)   KLD: %10.6f", Double(Self.percentile(k, q))))
        }
        out.append(f("Median  KLD: %10.6f", Double(Self.median(k))))
        for (label, q) in [("10.0%%", 0.1), (" 5.0%%", 0.05), (" 1.0%%", 0.01), (" 0.1%%", 0.001)] as [(String, Float)] {
            out.append(f("\(label)   KLD: %10.6f", Double(Self.percentile(k, q))))
        }
        out.append(f("Minimum KLD: %10.6f", Double(k[0])))
        out.append("")

        out.append("====== Token probability statistics ======")
        let pd = mean(sumPDiff, sumPDiff2)
        out.append(f("Mean    Δp: %6.3f ± %5.3f %%", 100 * pd.0, 100 * pd.1))
        out.append(f("Maximum Δp: %6.3f%%", 100 * Double(p[p.count - 1])))
        for (label, q) in [("99.9%%", 0.999), ("99.0%%", 0.99), ("95.0%%", 0.95), ("90.0%%", 0.9), ("75.0%%", 0.75)]
            as [(String, Float)] {
            out.append(f("\(label)   Δp: %6.3f%%", 100 * Double(Self.percentile(p, q))))
        }
        out.append(f("Median  Δp: %6.3f%%", 100 * Double(Self.median(p))))
        for (label, q) in [("25.0%%", 0.25), ("10.0%%", 0.1), (" 5.0%%", 0.05), (" 1.0%%", 0.01), (" 0.1%%", 0.001)]
            as [(String, Float)] {
            out.append(f("\(label)   Δp: %6.3f%%", 100 * Double(Self.percentile(p, q))))
        }
        out.append(f("Minimum Δp: %6.3f%%", 100 * Double(p[0])))
        let mse = mean(sumPDiff2, sumPDiff4)
        let rms = mse.0.squareRoot()
        out.append(f("RMS Δp    : %6.3f ± %5.3f %%", 100 * rms, 100 * 0.5 / rms * mse.1))
        let top = Double(sameTop) / Double(count)
        out.append(f("Same top p: %6.3f ± %5.3f %%", 100 * top, 100 * (top * (1 - top) / Double(count - 1)).squareRoot()))
        return out
    }

    /// Linear interpolation between the two nearest ranks, in Float as llama.cpp.
    static func percentile(_ sorted: [Float], _ fraction: Float) -> Float {
        if fraction <= 0 { return sorted[0] }
        if fraction >= 1 { return sorted[sorted.count - 1] }
        var p = fraction * Float(sorted.count - 1)
        let i = Int(p)
        p -= Float(i)
        return (1 - p) * sorted[i] + p * sorted[min(i + 1, sorted.count - 1)]
    }

    static func median(_ sorted: [Float]) -> Float {
        let n = sorted.count
        return n % 2 == 0 ? 0.5 * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2]
    }

    private func f(_ format: String, _ args: CVarArg...) -> String { String(format: format, arguments: args) }
}
