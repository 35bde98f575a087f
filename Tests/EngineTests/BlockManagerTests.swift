import XCTest
@testable import Engine

/// The block pool on its own: all-or-nothing allocation, reference counts, the LRU
/// order of cached blocks, and the prefix cache's hash chain (collisions included).
final class BlockManagerTests: XCTestCase {
    let a: [Int32] = [1, 2, 3, 4], b: [Int32] = [5, 6, 7, 8], c: [Int32] = [9, 10, 11, 12]

    /// Allocates one block per 4-token slice of `tokens` and registers each as full.
    func cache(_ tokens: [Int32], in m: inout BlockManager, root: UInt64 = 0) -> [Int32] {
        let blocks = m.allocate(tokens.count / 4)!
        var parent = root
        for (k, blk) in blocks.enumerated() { parent = m.register(blk, parent: parent, tokens: tokens[(k * 4)..<((k + 1) * 4)]) }
        return blocks
    }

    func testChainsWithDifferentRootsNeverShareBlocks() {
        // A LoRA adapter's blocks hang from its own root: the same tokens under the base model
        // (root 0) or another adapter are a miss, even when every hash collides.
        for forced in [false, true] {
            var m = forced ? BlockManager(blockSize: 4, blockCount: 8, prefixCaching: true, hash: { _, _ in 42 })
                           : BlockManager(blockSize: 4, blockCount: 8, prefixCaching: true)
            let adapterBlocks = cache(a + b, in: &m, root: 7)
            // (With every hash equal only the first block is registered: the second's hash is taken.)
            XCTAssertEqual(m.cachedPrefix(a + b + c, root: 7, maxBlocks: 2).blocks, forced ? [adapterBlocks[0]] : adapterBlocks)
            XCTAssertEqual(m.cachedPrefix(a + b + c, maxBlocks: 2).blocks, [], "the base model misses")
            XCTAssertEqual(m.cachedPrefix(a + b + c, root: 9, maxBlocks: 2).blocks, [], "another adapter misses")
        }
    }

    func testAllocationIsAllOrNothing() {
        var m = BlockManager(blockSize: 4, blockCount: 4, prefixCaching: true)
        XCTAssertNil(m.allocate(5))
        XCTAssertEqual(m.freeCount, 4, "a refused allocation takes nothing")
        let got = m.allocate(3)
        XCTAssertEqual(got?.count, 3)
        XCTAssertEqual(Set(got ?? []).count, 3)
        XCTAssertNil(m.allocate(2))
        XCTAssertEqual(m.freeCount, 1)
        XCTAssertEqual(m.allocate(0), [])
        m.releaseAll(got ?? [])
        XCTAssertEqual(m.freeCount, 4)
        XCTAssertEqual(m.usedCount, 0)
    }

    func testIdleSharedBlocksCountAgainstTheFreeOnes() {
        // 4 blocks: 2 cached and free (the hit), 2 free and plain.
        var m = BlockManager(blockSize: 4, blockCount: 4, prefixCaching: true)
        m.releaseAll(cache(a + b, in: &m))
        let hit = m.cachedPrefix(a + b + c, maxBlocks: 3)
        XCTAssertEqual(hit.blocks.count, 2)
        XCTAssertNil(m.allocate(3, sharing: hit.blocks), "taking the hit leaves 2 blocks, not 3")
        XCTAssertEqual(m.freeCount, 4)
        for blk in hit.blocks { XCTAssertEqual(m.references(blk), 0) }
        let fresh = m.allocate(2, sharing: hit.blocks)
        XCTAssertEqual(fresh?.count, 2)
        XCTAssertTrue(Set(fresh ?? []).isDisjoint(with: hit.blocks), "fresh blocks never evict the shared ones")
        XCTAssertEqual(m.freeCount, 0)
        for blk in hit.blocks { XCTAssertEqual(m.references(blk), 1) }
    }

    func testLookupIsAQueryAndSharingCountsReferences() {
        var m = BlockManager(blockSize: 4, blockCount: 8, prefixCaching: true)
        let held = cache(a + b, in: &m)
        let before = m.freeCount
        let hit = m.cachedPrefix(a + b + c, maxBlocks: 8)
        XCTAssertEqual(hit.blocks, held)
        XCTAssertEqual(hit.hashes.count, 2)
        XCTAssertEqual(m.freeCount, before, "a lookup takes nothing")
        XCTAssertEqual(m.references(held[0]), 1)
        XCTAssertEqual(m.allocate(0, sharing: hit.blocks), [])
        XCTAssertEqual(m.references(held[0]), 2)
        m.releaseAll(held)
        XCTAssertEqual(m.freeCount, before, "still held by the sharer")
        m.releaseAll(hit.blocks)
        XCTAssertEqual(m.freeCount, 8)
        XCTAssertEqual(m.cachedPrefix(a + b, maxBlocks: 8).blocks, held, "free but still cached")
        XCTAssertEqual(m.cachedPrefix(a + b, maxBlocks: 1).blocks, [held[0]], "maxBlocks caps the hit")
    }

    func testPlainBlocksAreReusedFirstAndCachedOnesEvictedLeastRecentlyUsedFirst() {
        var m = BlockManager(blockSize: 4, blockCount: 4, prefixCaching: true)
        let chain = cache(a + b, in: &m)           // 2 cached blocks
        let plain = m.allocate(1)!                 // 1 block never registered
        m.releaseAll(chain + plain)                // plain goes to the head; the chain, tail first, to the tail
        let untouched = (0..<Int32(4)).first { !chain.contains($0) && !plain.contains($0) }!
        XCTAssertEqual(m.allocate(1), plain)
        XCTAssertEqual(m.allocate(1), [untouched])
        // The chain's last block was released first, so it is evicted first and its prefix survives.
        XCTAssertEqual(m.allocate(1), [chain[1]])
        XCTAssertEqual(m.cachedPrefix(a + b, maxBlocks: 2).blocks, [chain[0]])
        XCTAssertEqual(m.allocate(1), [chain[0]])
        XCTAssertEqual(m.cachedPrefix(a + b, maxBlocks: 2).blocks, [], "an evicted block no longer hits")
    }

    func testAHashCollisionIsAMissNotAWrongBlock() {
        // Every block hashes alike: only the parent and token check tells them apart.
        var m = BlockManager(blockSize: 4, blockCount: 4, prefixCaching: true, hash: { _, _ in 42 })
        let first = cache(a, in: &m)
        XCTAssertEqual(m.cachedPrefix(b, maxBlocks: 1).blocks, [], "same hash, other tokens: a miss")
        XCTAssertEqual(m.cachedPrefix(a, maxBlocks: 1).blocks, first)
        let second = cache(b, in: &m)
        XCTAssertEqual(m.cachedPrefix(b, maxBlocks: 1).blocks, [], "the first block keeps the hash")
        XCTAssertEqual(m.cachedPrefix(a, maxBlocks: 1).blocks, first)
        // a's tokens after a: same hash and tokens, but another parent: a miss.
        XCTAssertEqual(m.cachedPrefix(a + a, maxBlocks: 2).blocks, first)
        m.releaseAll(first + second)
        XCTAssertEqual(m.freeCount, 4)
    }

    func testWithoutPrefixCachingNothingHits() {
        var m = BlockManager(blockSize: 4, blockCount: 4, prefixCaching: false)
        m.releaseAll(cache(a + b, in: &m))
        XCTAssertEqual(m.cachedPrefix(a + b, maxBlocks: 2), BlockManager.PrefixHit())
    }
}
