import XCTest
@testable import HTTP

/// A clock that moves only when the test moves it.
struct FakeClock {
    private(set) var now = MonotonicInstant(nanoseconds: 1_000_000_000)

    mutating func advance(_ seconds: Double) { now = now.adding(seconds: seconds) }

    func after(_ seconds: Double) -> MonotonicInstant { now.adding(seconds: seconds) }
}

/// Drives an `HTTPConnectionStateMachine` the way `HTTPConnection` does, without sockets or real
/// time: every call returns the machine's actions as short names, so tests read as transcripts.
struct ConnectionHarness {
    typealias Machine = HTTPConnectionStateMachine
    var machine: Machine
    var clock = FakeClock()
    /// Bytes the fake transport has not sent yet (what the driver would report).
    var pendingOutput = 0
    /// Requests the machine dispatched, in order.
    private(set) var dispatched: [(head: HTTPRequestHead, body: [UInt8])] = []
    /// Errors it asked to send, in order.
    private(set) var errors: [(error: HTTPParserError, head: HTTPRequestHead?)] = []
    /// Whether each error answer goes without content (a HEAD request's).
    private(set) var errorsToHead: [Bool] = []
    /// Answers given before a body was read (`refuseEarly`).
    private(set) var refused: [(answer: HTTPResponse, head: HTTPRequestHead)] = []

    /// Timeouts: header 10 s, body 5 s, idle 30 s, write 20 s, linger 2 s.
    static func configuration() -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        configuration.headerTimeout = 10
        configuration.bodyTimeout = 5
        configuration.idleTimeout = 30
        configuration.writeTimeout = 20
        configuration.lingerTimeout = 2
        return configuration
    }

    init(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) {
        var configuration = Self.configuration()
        configure(&configuration)
        machine = Machine(configuration: configuration)
    }

    var timerKind: Machine.TimerKind? { machine.timer?.kind }
    var deadline: MonotonicInstant? { machine.timer?.deadline }

    mutating func start(overConnectionLimit: Bool = false, mayBeProbe: Bool = true) -> [String] {
        record(machine.start(now: clock.now, overConnectionLimit: overConnectionLimit, mayBeProbe: mayBeProbe))
    }

    mutating func receive(_ text: String) -> [String] { receive(Array(text.utf8)) }

    mutating func receive(_ bytes: [UInt8]) -> [String] {
        let actions = bytes.withUnsafeBytes { machine.received($0, pendingOutput: pendingOutput, now: clock.now) }
        return record(actions)
    }

    /// The transport sent what it could: `pending` bytes are left.
    mutating func flushed(pending: Int, progressed: Bool = true) -> [String] {
        pendingOutput = pending
        return record(machine.outputFlushed(pendingOutput: pending, progressed: progressed, now: clock.now))
    }

    /// The handler's response is queued; `pending`: what the transport then holds (its last
    /// flush's figure when nil).
    mutating func responseCompleted(pending: Int? = nil) -> [String] {
        if let pending { pendingOutput = pending }
        return record(machine.responseCompleted(pendingOutput: pendingOutput, now: clock.now))
    }

    /// Bytes the peer sent while the connection lingers (the driver discards them).
    mutating func lingeringInput() -> [String] { record(machine.inputWhileLingering(now: clock.now)) }

    /// The loop's later turn that `parseLater` asked for.
    mutating func resume() -> [String] { record(machine.resumeParsing(pendingOutput: pendingOutput, now: clock.now)) }

    /// `responseCompleted` then, when it asks for one, the later turn: what a handler that answers
    /// at once looks like to a client that reads everything.
    mutating func answer() -> [String] {
        var actions = responseCompleted(pending: 0)
        if let i = actions.firstIndex(of: "parseLater") {
            actions.remove(at: i)
            actions += resume()
        }
        return actions
    }

    mutating func peerClosed() -> [String] { record(machine.peerClosed(pendingOutput: pendingOutput, now: clock.now)) }

    mutating func beginDrain(closeUnused: Bool = true) -> [String] {
        record(machine.beginDrain(pendingOutput: pendingOutput, closeUnused: closeUnused, now: clock.now))
    }

    /// Moves the clock, then ticks as the event loop does (the machine ignores an early tick).
    mutating func advance(_ seconds: Double) -> [String] {
        clock.advance(seconds)
        return record(machine.timerFired(now: clock.now))
    }

    private mutating func record(_ actions: [Machine.Action]) -> [String] {
        actions.map { action in
            switch action {
            case let .dispatch(head, body, _):
                dispatched.append((head, body))
                return "dispatch \(head.method) \(head.target)"
            case .write(let bytes):
                return "write \(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))"
            case let .refuse(answer, head):
                refused.append((answer, head))
                return "refuse \(answer.status.code)"
            case let .sendError(error, head, toHead):
                errors.append((error, head))
                errorsToHead.append(toHead)
                return "error \(error.status.code) \(error.code)"
            case .pauseReading: return "pause"
            case .resumeReading: return "resume"
            case .shutdownWrite: return "shutdownWrite"
            case .close: return "close"
            case .armTimer(let at):
                // The machine's own timer must be what it asks the driver to arm.
                XCTAssertEqual(at, machine.timer?.deadline, "armTimer matches the machine's timer")
                return "timer"
            case .cancelTimer:
                XCTAssertNil(machine.timer, "cancelTimer leaves no timer")
                return "cancelTimer"
            case .parseLater: return "parseLater"
            }
        }
    }
}
