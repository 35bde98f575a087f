import Foundation  // NSLock

/// Pre-token bytes → ids, shared by all threads of one tokenizer.
///
/// Keyed by a 64-bit hash so that a hit allocates nothing; the stored bytes settle
/// collisions (a colliding word just replaces the other). Cleared when full, so memory
/// stays bounded whatever text comes in.
// @unchecked Sendable: `entries` is only touched under `lock` (kept an NSLock rather than a
// Mutex to leave the encoder's per-word path as it is).
final class WordCache: @unchecked Sendable {
    private struct Entry {
        var bytes: [UInt8]
        var ids: [Int32]
    }

    /// Longer words are rare and cheap to miss relative to their length.
    static let maxWordBytes = 64
    private static let capacity = 1 << 16

    private var entries: [UInt64: Entry] = [:]
    private let lock = NSLock()

    /// Appends the cached ids of `word` and returns true, or returns false.
    @inline(__always)
    func append(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, into out: inout [Int32]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let hit = entries[hash], WordCache.equal(hit.bytes, word) else { return false }
        out.append(contentsOf: hit.ids)
        return true
    }

    func store(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: ArraySlice<Int32>) {
        let entry = Entry(bytes: Array(word), ids: Array(ids))
        lock.lock()
        if entries.count >= WordCache.capacity { entries.removeAll(keepingCapacity: true) }
        entries[hash] = entry
        lock.unlock()
    }

    @inline(__always)
    private static func equal(_ a: [UInt8], _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count, let bb = b.baseAddress else { return a.count == b.count }
        return a.withUnsafeBufferPointer { ab in
            guard let aa = ab.baseAddress else { return false }
            return memcmp(aa, bb, b.count) == 0
        }
    }
}
