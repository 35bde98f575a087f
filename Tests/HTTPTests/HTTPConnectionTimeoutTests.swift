import XCTest
@testable import HTTP

/// Every connection timeout, decided by the state machine and driven by a fake clock: no
/// sockets and no real time. Timeouts (ConnectionHarness): header 10 s, body 5 s, idle 30 s,
/// write 20 s, linger 2 s.
final class HTTPConnectionTimeoutTests: XCTestCase {
    static let get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

    func testSilentConnectionIsClosedAtTheHeaderTimeoutWithoutAResponse() {
        var c = ConnectionHarness()
        XCTAssertEqual(c.start(), ["timer"])
        XCTAssertEqual(c.timerKind, .header)
        XCTAssertEqual(c.deadline, c.clock.after(10))
        XCTAssertEqual(c.advance(9.999), [], "not before the deadline")
        XCTAssertEqual(c.advance(0.001), ["close"])
        XCTAssertTrue(c.errors.isEmpty, "nothing was received, so nothing is answered")
    }

    func testIncompleteHeadGets408ThenLingers() {
        var c = ConnectionHarness()
        _ = c.start()
        c.clock.advance(4)
        XCTAssertEqual(c.receive("GET / HTTP/1.1\r\nHo"), [], "the header timeout runs from accept, not from each byte")
        XCTAssertEqual(c.advance(5.9), [])
        XCTAssertEqual(c.advance(0.1), ["error 408 request_timeout", "cancelTimer"])
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
        XCTAssertEqual(c.timerKind, .linger)
        XCTAssertEqual(c.deadline, c.clock.after(2))
        XCTAssertEqual(c.receive("st: a\r\n\r\n"), [], "input while lingering is discarded, never answered")
        XCTAssertEqual(c.advance(2), ["close"])
    }

    func testAPeerStillSendingKeepsTheLingeringCloseUpToItsTotal() {
        // A client still uploading a refused body reads its answer before a reset (nginx's
        // lingering_timeout between reads, lingering_time in all).
        var c = ConnectionHarness { $0.lingerTotal = 5 }
        _ = c.start()
        XCTAssertEqual(c.receive("GET / HTTP/1.1\r\nHo"), [])
        XCTAssertEqual(c.advance(10), ["error 408 request_timeout", "cancelTimer"])
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
        XCTAssertEqual(c.deadline, c.clock.after(2))
        c.clock.advance(1.5)
        XCTAssertEqual(c.lingeringInput(), ["timer"])
        XCTAssertEqual(c.deadline, c.clock.after(2), "each read allows the linger timeout again")
        c.clock.advance(1.5)
        XCTAssertEqual(c.lingeringInput(), ["timer"])
        XCTAssertEqual(c.deadline, c.clock.after(2))
        c.clock.advance(1.5)
        XCTAssertEqual(c.lingeringInput(), [])
        XCTAssertEqual(c.deadline, c.clock.after(0.5), "never past the total from the lingering's start")
        XCTAssertEqual(c.advance(0.5), ["close"])
    }

    func testInputPastTheLingeringTotalClosesWithoutTheTimer() {
        // A peer sending without pause never lets the socket run dry, so the discarding read loop
        // does not yield to the timer: its input itself closes the connection past the total.
        var c = ConnectionHarness { $0.lingerTotal = 5 }
        _ = c.start()
        XCTAssertEqual(c.receive("GET / HTTP/1.1\r\nHo"), [])
        XCTAssertEqual(c.advance(10), ["error 408 request_timeout", "cancelTimer"])
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
        c.clock.advance(4.9)
        XCTAssertEqual(c.lingeringInput(), ["timer"])
        c.clock.advance(0.2)
        XCTAssertEqual(c.lingeringInput(), ["close"], "past the total, whether or not the timer could fire")
        XCTAssertEqual(c.lingeringInput(), [], "closed: nothing more")
    }

    func testAStalledHeadRequestLineTimesOutWithoutContent() {
        // The line's method is known before its end: the 408 to a HEAD has no content (RFC 9110 §9.3.2).
        for (start, toHead) in [("HEAD /slow HT", true), ("GET /slow HT", false), ("HEA", false)] {
            var c = ConnectionHarness()
            _ = c.start()
            _ = c.receive(start)
            XCTAssertEqual(c.advance(10), ["error 408 request_timeout", "cancelTimer"], start)
            XCTAssertEqual(c.errorsToHead, [toHead], start)
        }
    }

    func testKeepAliveHeaderTimeoutRunsFromTheNextRequestsFirstByte() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive(Self.get), ["dispatch GET /", "cancelTimer"])
        XCTAssertEqual(c.responseCompleted(), ["timer"])
        XCTAssertEqual(c.timerKind, .idle)
        XCTAssertEqual(c.deadline, c.clock.after(30))
        XCTAssertEqual(c.flushed(pending: 0), [])
        c.clock.advance(25)
        XCTAssertEqual(c.receive("GE"), ["timer"])
        XCTAssertEqual(c.timerKind, .header)
        XCTAssertEqual(c.deadline, c.clock.after(10))
        XCTAssertEqual(c.advance(9.9), [], "the idle deadline no longer applies")
        XCTAssertEqual(c.advance(0.1), ["error 408 request_timeout", "cancelTimer"])
    }

    func testBodyTimeoutIsRefreshedByEachBodyByte() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"), ["timer"])
        XCTAssertEqual(c.timerKind, .body)
        XCTAssertEqual(c.deadline, c.clock.after(5))
        c.clock.advance(4)
        XCTAssertEqual(c.receive("de"), ["timer"], "progress re-arms the body timeout")
        XCTAssertEqual(c.deadline, c.clock.after(5))
        XCTAssertEqual(c.advance(4.9), [])
        XCTAssertEqual(c.advance(0.1), ["error 408 request_timeout", "cancelTimer"])
        XCTAssertEqual(c.errors.first?.head?.target, "/up", "the 408 knows its request (for its X-Request-Id)")
    }

    func testIdleKeepAliveConnectionIsClosedSilently() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive(Self.get)
        XCTAssertNil(c.timerKind, "a handler at work has no deadline")
        XCTAssertEqual(c.responseCompleted(), ["timer"])
        XCTAssertEqual(c.flushed(pending: 0), [])
        XCTAssertEqual(c.advance(29.9), [])
        XCTAssertEqual(c.advance(0.1), ["close"])
        XCTAssertEqual(c.errors.count, 0)
    }

    /// A reader that takes its bytes slowly keeps its connection; one that stops for the write
    /// timeout loses it, even in the middle of a response.
    func testWriteTimeoutDropsAStalledReaderButNotASlowOne() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive(Self.get)
        XCTAssertEqual(c.flushed(pending: 100_000, progressed: true), ["timer"])
        XCTAssertEqual(c.timerKind, .write)
        XCTAssertEqual(c.deadline, c.clock.after(20))
        c.clock.advance(15)
        XCTAssertEqual(c.flushed(pending: 50_000, progressed: true), ["timer"], "progress re-arms it")
        XCTAssertEqual(c.deadline, c.clock.after(20))
        XCTAssertEqual(c.advance(15), [])
        XCTAssertEqual(c.flushed(pending: 50_000, progressed: false), [], "no progress: the deadline stays")
        XCTAssertEqual(c.advance(5), ["close"])
    }

    func testWriteTimerGivesWayToTheReadTimersOnceOutputDrains() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive(Self.get)
        XCTAssertEqual(c.responseCompleted(), ["timer"])
        XCTAssertEqual(c.flushed(pending: 4096), ["timer"])
        XCTAssertEqual(c.timerKind, .write, "the reader owes us progress now")
        XCTAssertEqual(c.receive("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab"), [],
                       "a request arriving does not excuse the unread output")
        XCTAssertEqual(c.timerKind, .write)
        c.clock.advance(5)
        XCTAssertEqual(c.flushed(pending: 1024), ["timer"], "progress re-arms the write timer")
        XCTAssertEqual(c.timerKind, .write)
        XCTAssertEqual(c.flushed(pending: 0), ["timer"], "written out: the body's read timeout takes over")
        XCTAssertEqual(c.timerKind, .body)
        // And from a write timer straight back to idle.
        var d = ConnectionHarness()
        _ = d.start()
        _ = d.receive(Self.get)
        XCTAssertEqual(d.flushed(pending: 10), ["timer"])
        XCTAssertEqual(d.responseCompleted(), [], "still waiting for the reader")
        XCTAssertEqual(d.timerKind, .write)
        XCTAssertEqual(d.flushed(pending: 0), ["timer"])
        XCTAssertEqual(d.timerKind, .idle)
        XCTAssertEqual(d.deadline, d.clock.after(30))
    }

    func testLingeringCloseEndsAtThePeersCloseOrTheLingerTimeout() {
        var early = ConnectionHarness()
        _ = early.start()
        XCTAssertEqual(early.receive("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), ["dispatch GET /", "cancelTimer"])
        XCTAssertFalse(early.machine.responseKeepsAlive, "the response says Connection: close")
        XCTAssertEqual(early.responseCompleted(), [])
        XCTAssertEqual(early.flushed(pending: 300), ["timer"])
        XCTAssertEqual(early.timerKind, .write)
        XCTAssertEqual(early.flushed(pending: 0), ["shutdownWrite", "timer"])
        XCTAssertEqual(early.timerKind, .linger)
        XCTAssertTrue(early.machine.isLingering)
        XCTAssertEqual(early.peerClosed(), ["close"], "the peer read everything and closed")

        var late = ConnectionHarness()
        _ = late.start()
        _ = late.receive("GET / HTTP/1.0\r\n\r\n")
        _ = late.responseCompleted()
        XCTAssertEqual(late.flushed(pending: 0), ["shutdownWrite", "timer"])
        XCTAssertEqual(late.receive("unread junk the client keeps sending"), [])
        XCTAssertEqual(late.advance(1.9), [])
        XCTAssertEqual(late.advance(0.1), ["close"])
    }

    func testAnEarlyOrStaleTickDoesNothing() {
        var c = ConnectionHarness()
        _ = c.start()
        let deadline = c.deadline
        XCTAssertEqual(c.advance(1), [])
        XCTAssertEqual(c.deadline, deadline)
        _ = c.receive(Self.get)
        XCTAssertEqual(c.advance(60), [], "no timer while the handler works, however late the tick")
    }
}
