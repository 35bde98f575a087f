import XCTest
@testable import API

/// The kept Responses answers: bounded by their text's bytes, each turn kept once and a
/// conversation found by walking back, the owner holding most giving up its least recently used
/// entry first, each found only by its owner.
final class ResponseStoreTests: XCTestCase {
    func kept(_ text: String, previous: String? = nil, owner: String = "", size: Int = 100) -> ResponseStore.Kept {
        .init(response: ["id": .string(text), "pad": .string(String(repeating: "x", count: size))],
              turn: [["role": "user", "content": .string(text)]], previous: previous, inputItems: [], owner: owner)
    }

    /// The bytes an entry takes, kept alone.
    func size(of k: ResponseStore.Kept, id: String) -> Int {
        let probe = ResponseStore(capacityBytes: 100_000)
        probe.put(id, k)
        return probe.usage.bytes
    }

    func turns(_ store: ResponseStore, _ id: String, owner: String = "") -> [String]? {
        guard case let .found(messages) = store.conversation(id, owner: owner) else { return nil }
        return messages.map { if case let .string(s)? = $0["content"] { return s }; return "?" }
    }

    func testAConversationIsEachTurnOnceFoundByWalkingBack() {
        let store = ResponseStore(capacityBytes: 100_000)
        store.put("a", kept("a"))
        store.put("b", kept("b", previous: "a"))
        store.put("c", kept("c", previous: "b"))
        XCTAssertEqual(turns(store, "c"), ["a", "b", "c"])
        XCTAssertEqual(turns(store, "b"), ["a", "b"])
        let one = store.usage.bytes / 3
        store.put("d", kept("d", previous: "c"))
        XCTAssertEqual(store.usage.bytes, 4 * one, "a turn's size does not grow with the conversation")
        XCTAssertTrue(store.delete("b", owner: ""))
        guard case .broken = store.conversation("d", owner: "") else { return XCTFail("a lost turn breaks the chain") }
        guard case .missing = store.conversation("b", owner: "") else { return XCTFail() }
    }

    func testAStaleConversationGoesFromItsNewestTurnAndAnActiveOneStays() {
        let one = size(of: kept("x1"), id: "x1")  // every id here has two characters: every entry this size
        let store = ResponseStore(capacityBytes: 4 * one)
        store.put("a1", kept("a1"))
        store.put("a2", kept("a2", previous: "a1"))  // conversation a, then b
        store.put("b1", kept("b1"))
        store.put("b2", kept("b2", previous: "b1"))
        XCTAssertNotNil(turns(store, "a2"))  // a is used again: b is now the stale one
        store.put("a3", kept("a3", previous: "a2"))
        XCTAssertNil(store.response("b2", owner: ""), "the stale conversation's newest turn went first")
        XCTAssertEqual(turns(store, "b1"), ["b1"])
        XCTAssertEqual(turns(store, "a3"), ["a1", "a2", "a3"])
    }

    func testTheOwnerHoldingMostGivesUpItsOwnFirst() {
        let one = size(of: kept("bob-0", owner: "bob"), id: "bob-0")
        let store = ResponseStore(capacityBytes: 5 * one + 20)  // alice's id is 2 characters longer
        store.put("alice-1", kept("alice-1", owner: "alice"))
        for i in 0..<10 { store.put("bob-\(i)", kept("bob-\(i)", owner: "bob")) }
        XCTAssertNotNil(store.response("alice-1", owner: "alice"), "bob's flood took bob's own entries")
        XCTAssertNotNil(store.response("bob-9", owner: "bob"))
        XCTAssertNil(store.response("bob-0", owner: "bob"))
        XCTAssertLessThanOrEqual(store.usage.bytes, 5 * one + 20)
    }

    func testOnlyTheOwnerFindsOrDeletesAnEntry() {
        let store = ResponseStore(capacityBytes: 10_000)
        store.put("r", kept("r", owner: "alice"))
        XCTAssertNil(store.response("r", owner: "bob"))
        XCTAssertNil(store.inputItems("r", owner: ""))
        guard case .missing = store.conversation("r", owner: "bob") else { return XCTFail() }
        XCTAssertFalse(store.delete("r", owner: "bob"))
        XCTAssertNotNil(store.response("r", owner: "alice"))
        XCTAssertTrue(store.delete("r", owner: "alice"))
        XCTAssertEqual(store.usage.bytes, 0)
    }

    func testAnEntryLargerThanTheStoreIsRefusedAndEvictsNothing() {
        let store = ResponseStore(capacityBytes: 1000)
        XCTAssertTrue(store.put("a", kept("a")))
        XCTAssertFalse(store.put("big", kept("big", size: 2000)))
        XCTAssertNil(store.response("big", owner: ""))
        XCTAssertNotNil(store.response("a", owner: ""))
        XCTAssertTrue(store.put("a", kept("a")))
        XCTAssertEqual(store.usage.count, 1)
    }

    func testAConversationLongerThanTheStoreIsKeptWholeInItsNewestTurn() {
        let one = size(of: kept("t0"), id: "t0")
        let store = ResponseStore(capacityBytes: 3 * one + 200)
        store.put("t0", kept("t0"))
        for i in 1..<8 {
            var k = kept("t\(i)", previous: "t\(i - 1)")
            k.earlier = (0..<i).map { ["role": "user", "content": .string("t\($0)")] }  // as the request found them
            XCTAssertTrue(store.put("t\(i)", k), "turn \(i)")
            XCTAssertEqual(turns(store, "t\(i)"), (0...i).map { "t\($0)" }, "turn \(i) continues the whole conversation")
        }
        XCTAssertLessThanOrEqual(store.usage.bytes, 3 * one + 200)
        XCTAssertNil(store.response("t0", owner: ""), "the first turns made room")
    }

    func testAConversationThatHoldsTheMostGivesUpItsOwnTurnsNotAnotherOwnersAnswers() {
        let one = size(of: kept("b0", owner: "bob"), id: "b0")
        let store = ResponseStore(capacityBytes: 4 * one + 50)
        store.put("alice", kept("al", owner: "alice"))
        store.put("b0", kept("b0", owner: "bob"))
        for i in 1..<6 {
            var k = kept("b\(i)", previous: "b\(i - 1)", owner: "bob")
            k.earlier = (0..<i).map { ["role": "user", "content": .string("b\($0)")] }
            XCTAssertTrue(store.put("b\(i)", k))
            XCTAssertEqual(turns(store, "b\(i)", owner: "bob"), (0...i).map { "b\($0)" })
        }
        XCTAssertNotNil(store.response("alice", owner: "alice"), "bob's conversation gave up its own turns")
    }

    func testAConversationTooLargeForTheStoreIsNotKeptAndDropsNothing() {
        let one = size(of: kept("c0"), id: "c0")
        let store = ResponseStore(capacityBytes: 2 * one + 50)
        store.put("c0", kept("c0"))
        store.put("c1", kept("c1", previous: "c0"))
        var k = kept("c2", previous: "c1")
        k.earlier = (0..<300).map { ["role": "user", "content": .string("turn \($0)")] }  // too much to hold whole
        XCTAssertFalse(store.put("c2", k))
        XCTAssertEqual(turns(store, "c1"), ["c0", "c1"], "nothing dropped for an answer not kept")
    }

    func testATurnWhoseChainWentMeanwhileKeepsTheConversationItself() {
        let store = ResponseStore(capacityBytes: 100_000)
        store.put("a", kept("a"))
        var k = kept("b", previous: "a")
        k.earlier = [["role": "user", "content": "a"]]
        XCTAssertTrue(store.delete("a", owner: ""))  // while b was being answered
        XCTAssertTrue(store.put("b", k))
        XCTAssertEqual(turns(store, "b"), ["a", "b"])
    }

    func testReadingATurnKeepsTheTurnsBeforeItAsRecent() {
        let one = size(of: kept("x0"), id: "x0")
        let store = ResponseStore(capacityBytes: 3 * one)
        store.put("t0", kept("t0"))
        store.put("t1", kept("t1", previous: "t0"))
        store.put("o1", kept("o1"))
        XCTAssertNotNil(store.response("t1", owner: ""))  // t0 too is used now; o1 is the oldest
        store.put("o2", kept("o2"))
        XCTAssertNil(store.response("o1", owner: ""))
        XCTAssertEqual(turns(store, "t1"), ["t0", "t1"])
    }
}
