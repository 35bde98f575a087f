import XCTest
@testable import API

/// Keys as operators write them: `name:key`, `name: key` (as YAML writes it), bare keys, a key
/// file with comments and blank lines; a bad entry is named where an editor shows it.
final class APIKeyStoreTests: XCTestCase {
    func testASpaceAfterTheColonIsNotPartOfTheKey() throws {
        let store = try APIKeyStore(keys: ["team: sk-abcdefghij", "ops:sk-0123456789", "sk-barekey-0001"], file: nil)
        XCTAssertEqual(store.name(forAuthorization: "Bearer sk-abcdefghij"), "team")
        XCTAssertEqual(store.name(forAuthorization: "Bearer sk-0123456789"), "ops")
        XCTAssertEqual(store.name(forAuthorization: "Bearer sk-barekey-0001"), "key-3")
        XCTAssertNil(store.name(forAuthorization: "Bearer  sk-abcdefghi"))
    }

    func testAFileEntryIsNamedByItsLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jeton-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("keys").path
        try "# header\n\nok:sk-okokok-001\n\nbad:\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try APIKeyStore(keys: ["x:sk-configured-1"], file: file)) {
            XCTAssertTrue("\($0)".contains("\(file) line 5"), "\($0)")
        }
        try "# header\r\ngamma: sk-gamma-0003\r\n".write(toFile: file, atomically: true, encoding: .utf8)
        let store = try APIKeyStore(keys: [], file: file)
        XCTAssertEqual(store.name(forAuthorization: "Bearer sk-gamma-0003"), "gamma")
    }

    /// One key under two names is refused (the first name would never be seen); one name may
    /// hold two keys (a rotation), each answering to it.
    func testAKeyGivenTwiceIsRefused() throws {
        XCTAssertThrowsError(try APIKeyStore(keys: ["a:abcdefghij", "b:abcdefghij"], file: nil)) { error in
            XCTAssertTrue("\(error)".contains("is the same key as a"), "\(error)")
        }
        XCTAssertEqual(try APIKeyStore(keys: ["a:abcdefghij", "a:abcdefghij"], file: nil).count, 2, "the same entry twice is one")
        let rotation = try APIKeyStore(keys: ["a:abcdefghij", "a:bcdefghijk"], file: nil)
        XCTAssertEqual(rotation.name(forAuthorization: "Bearer abcdefghij"), "a")
        XCTAssertEqual(rotation.name(forAuthorization: "Bearer bcdefghijk"), "a")
    }
}
