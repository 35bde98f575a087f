import Foundation
import Synchronization

/// Per-key limits: requests per minute and tokens per minute as token buckets
/// (refilled continuously, a minute's worth at most), and requests in flight.
/// Tokens are charged when a request ends and its usage is known, so a key may
/// go into debt and wait it off.
public final class RateLimiter: Sendable {
    public struct Limits: Sendable {
        public var requestsPerMinute: Int
        public var tokensPerMinute: Int
        public var maxConcurrent: Int
        public init(requestsPerMinute: Int = 0, tokensPerMinute: Int = 0, maxConcurrent: Int = 0) {
            self.requestsPerMinute = requestsPerMinute
            self.tokensPerMinute = tokensPerMinute
            self.maxConcurrent = maxConcurrent
        }
        public var isEnabled: Bool { requestsPerMinute > 0 || tokensPerMinute > 0 || maxConcurrent > 0 }
    }

    public enum Decision: Equatable, Sendable {
        case admitted
        case limited(retryAfter: Int, message: String)
    }

    private struct Bucket {
        var level: Double
        var updated: Double
        mutating func refill(rate: Double, capacity: Double, now: Double) {
            level = min(capacity, level + (now - updated) * rate)
            updated = now
        }
    }

    private struct State {
        var requests: Bucket
        var tokens: Bucket
        var inFlight = 0
    }

    public let limits: Limits
    private let clock: @Sendable () -> Double
    private let states = Mutex<[String: State]>([:])

    public init(limits: Limits, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSinceReferenceDate }) {
        self.limits = limits
        self.clock = clock
    }

    private func state(_ key: String, _ now: Double, in states: [String: State]) -> State {
        states[key] ?? State(requests: Bucket(level: Double(limits.requestsPerMinute), updated: now),
                             tokens: Bucket(level: Double(limits.tokensPerMinute), updated: now))
    }

    /// Admits a request of `key` (and counts it in flight) or says when to retry.
    public func admit(_ key: String) -> Decision {
        let now = clock()
        return states.withLock { states in
            var s = state(key, now, in: states)
            let rpm = Double(limits.requestsPerMinute), tpm = Double(limits.tokensPerMinute)
            if rpm > 0 { s.requests.refill(rate: rpm / 60, capacity: rpm, now: now) }
            if tpm > 0 { s.tokens.refill(rate: tpm / 60, capacity: tpm, now: now) }
            defer { states[key] = s }
            if limits.maxConcurrent > 0 && s.inFlight >= limits.maxConcurrent {
                return .limited(retryAfter: 1, message: "Too many concurrent requests for this API key: the limit is \(limits.maxConcurrent) in flight.")
            }
            if rpm > 0 && s.requests.level < 1 {
                let wait = Int(((1 - s.requests.level) / (rpm / 60)).rounded(.up))
                return .limited(retryAfter: max(1, wait), message: "Rate limit reached for this API key: \(limits.requestsPerMinute) requests per minute. Retry in \(max(1, wait)) s.")
            }
            if tpm > 0 && s.tokens.level <= 0 {
                let wait = Int(((1 - s.tokens.level) / (tpm / 60)).rounded(.up))
                return .limited(retryAfter: max(1, wait), message: "Rate limit reached for this API key: \(limits.tokensPerMinute) tokens per minute. Retry in \(max(1, wait)) s.")
            }
            if rpm > 0 { s.requests.level -= 1 }
            s.inFlight += 1
            return .admitted
        }
    }

    /// Ends an admitted request, charging the tokens it used.
    public func finish(_ key: String, tokens: Int) {
        let now = clock()
        states.withLock { states in
            var s = state(key, now, in: states)
            s.inFlight = max(0, s.inFlight - 1)
            let tpm = Double(limits.tokensPerMinute)
            if tpm > 0 {
                s.tokens.refill(rate: tpm / 60, capacity: tpm, now: now)
                s.tokens.level -= Double(tokens)
            }
            states[key] = s
        }
    }
}
