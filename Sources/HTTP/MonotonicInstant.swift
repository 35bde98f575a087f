import Dispatch

/// A point on a monotonic clock, in nanoseconds from an arbitrary origin. The connection state
/// machine only compares and adds these, and never reads a clock itself: the socket driver passes
/// `MonotonicInstant.now` with each event, tests pass made-up instants.
struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    var nanoseconds: UInt64

    init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The real clock (uptime, so it never jumps with the wall clock). Only the driver calls this.
    static var now: MonotonicInstant { MonotonicInstant(nanoseconds: DispatchTime.now().uptimeNanoseconds) }

    /// `seconds` later. Clamped so an absurd configured timeout cannot overflow the conversion.
    func adding(seconds: Double) -> MonotonicInstant {
        let delta = UInt64(min(max(0, seconds), 1e9) * 1e9)
        let (sum, overflow) = nanoseconds.addingReportingOverflow(delta)
        return MonotonicInstant(nanoseconds: overflow ? .max : sum)
    }

    static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    var description: String { "\(Double(nanoseconds) / 1e9) s" }
}
