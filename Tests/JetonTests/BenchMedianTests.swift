import XCTest
@testable import Jeton

/// `jeton bench` reports the median of its runs' bandwidth shares (each run against its own probe).
final class BenchMedianTests: XCTestCase {
    func testMedian() {
        XCTAssertEqual(BenchCommand.median([0.9, 0.5, 1.1]), 0.9)
        XCTAssertEqual(BenchCommand.median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(BenchCommand.median([7]), 7)
        XCTAssertEqual(BenchCommand.median([]), 0)
    }
}
