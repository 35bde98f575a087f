import Foundation

/// One sequence's speculation switch, kept by the scheduler: its acceptance per proposer, the
/// depths `SpeculationCost` allows it from them, and when it probes again after turning off.
struct SpeculationControl {
    var draft = AcceptanceEstimate()
    var lookup = AcceptanceEstimate()
    /// Depths worth proposing this step (0: that proposer loses), set when scheduled.
    var draftCap = 0
    var lookupCap = 0
    /// While off: the output length at which it proposes again (a probe at the initial depth).
    var offUntil: Int?
    /// Probes in a row after which it turned off again (each doubles the wait, up to 8×).
    var failedProbes = 0
    var probing = false
}

/// How often a sequence's proposed tokens stand: accepted / (accepted + first misses), the
/// probability of the next proposal standing when the ones before it did, with older
/// verifications decayed so that it follows the text (a sequence leaving a quoted passage
/// stops matching its prompt). It starts from a weak prior (0.8, worth 2.5 proposals), so one
/// early miss does not turn a sequence off. A draft model not verified for a while drifts
/// back to the prior (`rate(at:)`; its agreement with the target holds over a text, where
/// prompt lookup's comes and goes with passages copied): with prompt lookup beside it, a draft
/// that lost while lookup still proposed was never probed (the sequence was not off), and
/// stayed off for 56-80 tokens of 256-token answers whose draft acceptance was 0.78.
struct AcceptanceEstimate: Sendable {
    private static let priorAccepted = 2.0, priorMissed = 0.5
    private var accepted = priorAccepted
    private var missed = priorMissed
    /// Verifications seen.
    private(set) var verifications = 0
    /// Generated tokens at the last verification recorded with its place (nil: none).
    private var lastAt: Int?
    /// Returns after an idle span whose first proposal missed, in a row: each doubles the
    /// half-life (up to 8×), as failed probes double a sequence's wait, so a draft that is
    /// always wrong is not retried every half-life forever.
    private var failedReturns = 0
    static let decay = 0.7
    /// Idle generated tokens after which the counts are half way back to the prior's.
    static let halfLife = 16.0

    var rate: Double { accepted / (accepted + missed) }

    /// The rate when the sequence has generated `generated` tokens: the counts pulled toward the
    /// prior's by the tokens generated since the last verification.
    func rate(at generated: Int) -> Double {
        let (a, m) = counts(at: generated)
        return a / (a + m)
    }

    private func counts(at generated: Int) -> (Double, Double) {
        guard let lastAt, generated > lastAt else { return (accepted, missed) }
        let w = pow(0.5, Double(generated - lastAt) / (Self.halfLife * Double(1 << failedReturns)))
        return (Self.priorAccepted + (accepted - Self.priorAccepted) * w, Self.priorMissed + (missed - Self.priorMissed) * w)
    }

    /// One verification: `proposed` tokens, the first `accepted` of them stood. `at`: the
    /// sequence's generated tokens then (the idle drift applies from there; nil: no drift).
    mutating func record(proposed: Int, accepted a: Int, at generated: Int? = nil) {
        guard proposed > 0 else { return }
        if let generated {
            if let lastAt, Double(generated - lastAt) >= Self.halfLife {
                failedReturns = a == 0 ? min(failedReturns + 1, 3) : 0
            }
            (accepted, missed) = counts(at: generated)
            lastAt = generated
        }
        accepted = Self.decay * accepted + Double(a)
        missed = Self.decay * missed + (a < proposed ? 1 : 0)
        verifications += 1
    }
}
