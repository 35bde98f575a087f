import HTTP
import Synchronization

/// Finished Responses API answers, kept in memory for `previous_response_id` and GET/DELETE
/// /v1/responses/{id}: at most `capacityBytes` of them (their JSON's size), the least recently
/// used dropped first. One per process, shared by its models; not shared between replicas (a
/// conversation continued by id needs the replica that answered it: sticky routing, or the whole
/// conversation in `input`), and gone on restart.
public final class ResponseStore: Sendable {
    struct Entry {
        /// The Response object as its client got it.
        var response: JSON
        /// The conversation up to and with this answer, as chat messages (instructions left out:
        /// they do not carry over to a response that continues this one, as OpenAI has it).
        var history: [JSON]
        /// The request's own input items, each with an id (GET .../input_items).
        var inputItems: [JSON]
        /// Who made it (`owner(of:)`): only the same API key finds it again.
        var owner: String
        var bytes = 0
        var used: UInt64 = 0
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    public let capacityBytes: Int
    private let state = Mutex(State())
    private let keyName: @Sendable (HTTPRequest) -> String?

    /// `keyName`: the name of the API key a request came with (nil without authentication).
    public init(capacityBytes: Int, keyName: @escaping @Sendable (HTTPRequest) -> String? = { _ in nil }) {
        self.capacityBytes = capacityBytes
        self.keyName = keyName
    }

    /// Keeps an entry (its size measured here); older ones go until all fit. One larger than the
    /// whole store is not kept.
    func put(_ id: String, _ entry: Entry) {
        var e = entry
        e.bytes = e.response.serialized.utf8.count + e.history.reduce(0) { $0 + $1.serialized.utf8.count }
            + e.inputItems.reduce(0) { $0 + $1.serialized.utf8.count }
        guard e.bytes <= capacityBytes else { return }
        state.withLock { s in
            if let old = s.entries.removeValue(forKey: id) { s.bytes -= old.bytes }
            while s.bytes + e.bytes > capacityBytes, let oldest = s.entries.min(by: { $0.value.used < $1.value.used }) {
                s.entries[oldest.key] = nil
                s.bytes -= oldest.value.bytes
            }
            s.clock += 1
            e.used = s.clock
            s.entries[id] = e
            s.bytes += e.bytes
        }
    }

    /// The entry, now the most recently used; nil for another owner's.
    func get(_ id: String, owner: String) -> Entry? {
        state.withLock { s in
            guard s.entries[id]?.owner == owner else { return nil }
            s.clock += 1
            s.entries[id]!.used = s.clock
            return s.entries[id]
        }
    }

    /// Forgets an entry; false when there was none of this owner's.
    func delete(_ id: String, owner: String) -> Bool {
        state.withLock { s in
            guard s.entries[id]?.owner == owner, let old = s.entries.removeValue(forKey: id) else { return false }
            s.bytes -= old.bytes
            return true
        }
    }

    /// A request's owner: its API key's name, so one key's responses are not another's to read,
    /// continue or delete; without keys every client is the same owner ("").
    func owner(of request: HTTPRequest) -> String { keyName(request) ?? "" }

    /// Entries and bytes kept (for tests and metrics).
    public var usage: (count: Int, bytes: Int) { state.withLock { ($0.entries.count, $0.bytes) } }
}
