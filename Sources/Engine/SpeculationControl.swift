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
/// early miss does not turn a sequence off.
struct AcceptanceEstimate: Sendable {
    private var accepted = 2.0
    private var missed = 0.5
    /// Verifications seen.
    private(set) var verifications = 0
    static let decay = 0.7

    var rate: Double { accepted / (accepted + missed) }

    mutating func record(proposed: Int, accepted a: Int) {
        guard proposed > 0 else { return }
        accepted = Self.decay * accepted + Double(a)
        missed = Self.decay * missed + (a < proposed ? 1 : 0)
        verifications += 1
    }
}
