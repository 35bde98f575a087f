import HTTP
import Synchronization

/// Finished Responses API answers, kept in memory for `previous_response_id` and GET/DELETE
/// /v1/responses/{id}: at most `capacityBytes` of them, kept as their JSON text (so the bound is
/// the memory they hold). One per process, shared by its models; not shared between replicas (a
/// conversation continued by id needs the replica that answered it: sticky routing, or the whole
/// conversation in `input`), and gone on restart.
///
/// Each entry holds its own turn only (the request's messages and the answer) and the id of the
/// response it continued, so a conversation of n turns costs n turns, not n²/2; continuing one
/// walks the chain. A conversation's responses share its last use (each use of one marks those
/// before it too), so a stale conversation goes from its newest turn back and nothing kept loses
/// a turn before it. When the store is full, the owner holding the most bytes gives up its least
/// recently used entry (one API key cannot flush another's), never a turn of the conversation
/// being kept; when only those are left, the new answer is kept with its whole conversation
/// (needing none of them) and they become like any other.
public final class ResponseStore: Sendable {
    /// What a finished answer leaves.
    struct Kept {
        /// The Response object as its client got it.
        var response: JSON
        /// This request's messages after the previous response's turns (instructions left out:
        /// they do not carry over, as OpenAI has it), the answer's message last.
        var turn: [JSON]
        var previous: String?
        /// The turns before (of `previous`, as found when the request came): the conversation the
        /// entry keeps itself if the chain cannot be kept (a turn before went meanwhile, or the
        /// store holds too little for the chain and this turn).
        var earlier: [JSON] = []
        /// The request's own input items, each with an id (GET .../input_items).
        var inputItems: [JSON]
        /// Who made it (`owner(of:)`): only the same API key finds it again.
        var owner: String
    }

    private struct Entry {
        var response: [UInt8]
        var turn: [UInt8]
        var inputItems: [UInt8]
        var previous: String?
        var depth: Int
        var owner: String
        var bytes: Int
        var used: UInt64
    }

    private struct Answering {
        var owner: String
        var deleted = false
        var opening: [UInt8]
        var inputItems: [JSON]
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var ownerBytes: [String: Int] = [:]
        var clock: UInt64 = 0
        /// Responses being answered that will be kept, by owner, and whether a DELETE came for one
        /// meanwhile (then it is not kept when it ends); a GET meanwhile gives `opening` (its
        /// Response object `in_progress`) and its input items.
        var answering: [String: Answering] = [:]

        /// A response of this owner's being answered and not deleted.
        func inProgress(_ id: String, _ owner: String) -> Answering? {
            answering[id].flatMap { $0.owner == owner && !$0.deleted ? $0 : nil }
        }
    }

    /// What continuing a response finds.
    enum Conversation {
        /// Its turns, oldest first, as chat messages.
        case found([JSON])
        /// No such response of this owner.
        case missing
        /// It is kept, but a response before it in its conversation no longer is.
        case broken
        /// It is still being answered.
        case inProgress
    }

    public let capacityBytes: Int
    private let state = Mutex(State())
    private let identity: @Sendable (HTTPRequest) -> String?

    /// `identity`: who a request comes as (a digest of its API key; nil without authentication).
    public init(capacityBytes: Int, identity: @escaping @Sendable (HTTPRequest) -> String? = { _ in nil }) {
        self.capacityBytes = capacityBytes
        self.identity = identity
    }

    /// A request's owner, so one key's responses are not another's to read, continue or delete;
    /// without keys every client is the same owner ("").
    func owner(of request: HTTPRequest) -> String { identity(request) ?? "" }

    /// Keeps an answer; false when it does not fit: its own turn larger than the whole store, or,
    /// its conversation holding the most, that conversation larger than the store (nothing of it
    /// dropped then; owners that held more than it may have given up entries already).
    @discardableResult
    func put(_ id: String, _ kept: Kept) -> Bool {
        let response = Array(kept.response.serialized.utf8), items = Array(JSON.array(kept.inputItems).serialized.utf8)
        func size(_ turn: [UInt8]) -> Int { response.count + turn.count + items.count + id.utf8.count + 64 }
        let own = Array(JSON.array(kept.turn).serialized.utf8)
        let whole = kept.previous == nil ? own : Array(JSON.array(kept.earlier + kept.turn).serialized.utf8)
        return state.withLock { s in
            // It leaves `answering` in the step it is kept: a GET in between finds one or the other.
            guard s.answering.removeValue(forKey: id)?.deleted != true, size(own) <= capacityBytes else { return false }
            remove(id, &s)
            // The turns before this one (this owner's, all kept) may not go to make room for it.
            var chain: [String] = []
            var p = kept.previous
            while let q = p, let e = s.entries[q], e.owner == kept.owner {
                chain.append(q)
                p = e.previous
            }
            var turn = own, previous = kept.previous
            if p != nil {
                // A turn before it went while it was answered: it keeps the conversation itself.
                chain = []
                (turn, previous) = (whole, nil)
                guard size(turn) <= capacityBytes else { return false }
            }
            if !evict(&s, room: size(turn), owner: kept.owner, sparing: Set(chain)) {
                // Only its own conversation is left to drop: keep it whole in this entry, so the
                // turns before may go; unless it cannot fit at all (then nothing goes).
                guard size(whole) <= capacityBytes else { return false }
                (turn, previous, chain) = (whole, nil, [])
                _ = evict(&s, room: size(turn), owner: kept.owner, sparing: [])
            }
            let bytes = size(turn)
            guard s.bytes + bytes <= capacityBytes else { return false }
            let depth = previous.flatMap { s.entries[$0]?.depth }.map { $0 + 1 } ?? 0
            s.clock += 1
            s.entries[id] = Entry(response: response, turn: turn, inputItems: items, previous: previous, depth: depth,
                                  owner: kept.owner, bytes: bytes, used: s.clock)
            s.bytes += bytes
            s.ownerBytes[kept.owner, default: 0] += bytes
            for q in chain { s.entries[q]!.used = s.clock }
            return true
        }
    }

    /// The Response object's JSON text, now the most recently used; nil for another owner's.
    /// One still being answered is its Response object `in_progress`, as OpenAI gives it.
    func response(_ id: String, owner: String) -> [UInt8]? {
        state.withLock { s in touchChain(id, owner, &s)?.response ?? s.inProgress(id, owner)?.opening }
    }

    /// The request's input items; nil for another owner's.
    func inputItems(_ id: String, owner: String) -> [JSON]? {
        let (text, answering): ([UInt8]?, [JSON]?) = state.withLock { s in
            (touchChain(id, owner, &s)?.inputItems, s.inProgress(id, owner)?.inputItems)
        }
        guard let text, case let .array(items)? = JSON.parse(text) else { return answering }
        return items
    }

    /// The conversation up to and with a response (each response on its way used now).
    func conversation(_ id: String, owner: String) -> Conversation {
        var inProgress = false
        let turns: [[UInt8]]? = state.withLock { s in
            s.clock += 1
            guard var e = touch(id, owner, &s) else {
                inProgress = s.inProgress(id, owner) != nil
                return nil
            }
            var turns = [e.turn]
            while let p = e.previous {
                guard let before = touch(p, owner, &s) else { return [] }
                turns.append(before.turn)
                e = before
            }
            return turns.reversed()
        }
        guard let turns else { return inProgress ? .inProgress : .missing }
        guard !turns.isEmpty else { return .broken }
        return .found(turns.flatMap { t -> [JSON] in if case let .array(m)? = JSON.parse(t) { return m }; return [] })
    }

    /// Forgets an entry; false when there was none of this owner's. (Responses that continued it
    /// stay, but can no longer be continued.)
    func delete(_ id: String, owner: String) -> Bool {
        state.withLock { s in
            if let a = s.answering[id], a.owner == owner {
                // Once deleted, it is gone for a second DELETE too.
                guard !a.deleted else { return false }
                s.answering[id]?.deleted = true
                return true
            }
            guard s.entries[id]?.owner == owner else { return false }
            remove(id, &s)
            return true
        }
    }

    /// A response to keep is being answered: a DELETE of its id meanwhile is taken (and it is not
    /// kept), rather than a 404 followed by the answer kept anyway; a GET finds `opening`.
    func answering(_ id: String, owner: String, opening: JSON, inputItems: [JSON]) {
        let a = Answering(owner: owner, opening: Array(opening.serialized.utf8), inputItems: inputItems)
        state.withLock { $0.answering[id] = a }
    }

    /// A response being answered ended without an answer to keep (failed, drained, its client gone).
    func abandoned(_ id: String) {
        _ = state.withLock { $0.answering.removeValue(forKey: id) }
    }

    /// Entries and bytes kept (for tests and metrics).
    public var usage: (count: Int, bytes: Int) { state.withLock { ($0.entries.count, $0.bytes) } }

    /// The entry and those before it, all marked used now (a read of a turn keeps the turns it
    /// needs as recent as it); nil for another owner's.
    private func touchChain(_ id: String, _ owner: String, _ s: inout State) -> Entry? {
        s.clock += 1
        guard let e = touch(id, owner, &s) else { return nil }
        var p = e.previous
        while let q = p, let before = touch(q, owner, &s) { p = before.previous }
        return e
    }

    /// The entry, marked used now (`s.clock`); nil for another owner's.
    private func touch(_ id: String, _ owner: String, _ s: inout State) -> Entry? {
        guard s.entries[id]?.owner == owner else { return nil }
        s.entries[id]!.used = s.clock
        return s.entries[id]
    }

    private func remove(_ id: String, _ s: inout State) {
        guard let old = s.entries.removeValue(forKey: id) else { return }
        s.bytes -= old.bytes
        s.ownerBytes[old.owner, default: 0] -= old.bytes
        if s.ownerBytes[old.owner] == 0 { s.ownerBytes[old.owner] = nil }
    }

    /// Drops entries until `room` bytes fit: each time from the owner holding the most (counting
    /// the `room` this owner is about to take), its least recently used first (a conversation's
    /// newest turn first), never one of `sparing`. False when the owner adding holds the most and
    /// has nothing left to drop but `sparing` (its conversation), or nothing is left to drop. One
    /// ordering per owner in turn, not a scan per entry.
    private func evict(_ s: inout State, room: Int, owner adding: String, sparing: Set<String>) -> Bool {
        var passed: Set<String> = []  // owners with nothing to drop (the one adding, holding only this answer)
        while s.bytes + room > capacityBytes {
            var held = s.ownerBytes.filter { !passed.contains($0.key) }
            if !passed.contains(adding) { held[adding, default: 0] += room }
            guard let (owner, most) = held.max(by: { $0.value < $1.value }) else { return false }
            let next = held.filter { $0.key != owner }.map(\.value).max() ?? 0
            let victims = s.entries.filter { $0.value.owner == owner && !sparing.contains($0.key) }
                .sorted { ($0.value.used, -$0.value.depth) < ($1.value.used, -$1.value.depth) }
            if victims.isEmpty {
                // Its own conversation is all it holds: that, not another owner's, is what must give.
                if owner == adding && !sparing.isEmpty { return false }
                passed.insert(owner)
                continue
            }
            var left = most
            for (id, e) in victims {
                remove(id, &s)
                left -= e.bytes
                if s.bytes + room <= capacityBytes || left < next { break }  // fits, or another owner holds more now
            }
        }
        return true
    }
}
