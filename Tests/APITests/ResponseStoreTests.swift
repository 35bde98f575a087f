import XCTest
@testable import API

/// The kept Responses answers: bounded by bytes, the least recently used dropped first, each
/// found only by its owner.
final class ResponseStoreTests: XCTestCase {
    func entry(_ text: String, owner: String = "") -> ResponseStore.Entry {
        .init(response: ["id": .string(text), "text": .string(String(repeating: "x", count: 100))], history: [],
              inputItems: [], owner: owner)
    }

    func testTheLeastRecentlyUsedGoesFirst() {
        let one = entry("a").response.serialized.utf8.count
        let store = ResponseStore(capacityBytes: 3 * one)
        store.put("a", entry("a"))
        store.put("b", entry("b"))
        store.put("c", entry("c"))
        XCTAssertNotNil(store.get("a", owner: ""))  // a is now the most recently used
        store.put("d", entry("d"))
        XCTAssertNil(store.get("b", owner: ""), "b was the least recently used")
        XCTAssertNotNil(store.get("a", owner: ""))
        XCTAssertNotNil(store.get("c", owner: ""))
        XCTAssertNotNil(store.get("d", owner: ""))
        XCTAssertEqual(store.usage.count, 3)
        XCTAssertEqual(store.usage.bytes, 3 * one)
    }

    func testAnEntryLargerThanTheStoreIsNotKeptAndEvictsNothing() {
        let store = ResponseStore(capacityBytes: 200)
        store.put("a", entry("a"))
        var big = entry("big")
        big.history = [.string(String(repeating: "y", count: 300))]
        store.put("big", big)
        XCTAssertNil(store.get("big", owner: ""))
        XCTAssertNotNil(store.get("a", owner: ""))
        XCTAssertEqual(ResponseStore(capacityBytes: 0).usage.count, 0)
    }

    func testOnlyTheOwnerFindsOrDeletesAnEntry() {
        let store = ResponseStore(capacityBytes: 10_000)
        store.put("r", entry("r", owner: "alice"))
        XCTAssertNil(store.get("r", owner: "bob"))
        XCTAssertNil(store.get("r", owner: ""))
        XCTAssertFalse(store.delete("r", owner: "bob"))
        XCTAssertNotNil(store.get("r", owner: "alice"))
        XCTAssertTrue(store.delete("r", owner: "alice"))
        XCTAssertNil(store.get("r", owner: "alice"))
        XCTAssertEqual(store.usage.bytes, 0)
    }

    func testPuttingAnIdAgainReplacesIt() {
        let store = ResponseStore(capacityBytes: 10_000)
        store.put("r", entry("r"))
        let bytes = store.usage.bytes
        store.put("r", entry("r"))
        XCTAssertEqual(store.usage.count, 1)
        XCTAssertEqual(store.usage.bytes, bytes)
    }
}
