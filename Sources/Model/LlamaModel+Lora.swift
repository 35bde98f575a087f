/// The batch's token rows gathered by adapter (a segmented gather, as Punica and S-LoRA do):
/// the base matmul runs once for every token, then each adapter's low-rank update runs over
/// the rows of the sequences that use it, adapter after adapter. Sequences without adapters
/// cost nothing here.
struct LoraGroups {
    var groups: [(adapter: LoraAdapter, tokens: [(row: Int, scale: Float)])] = []
    /// Rows of sequences with several adapters: updated outside the parallel region, since two
    /// threads must not add to one row at once.
    var shared: Set<Int> = []

    init(_ batch: [BatchSequence]) {
        var index: [ObjectIdentifier: Int] = [:]
        var t = 0
        for seq in batch {
            let active = seq.adapters.filter { $0.scale != 0 }
            for sel in active {
                let id = ObjectIdentifier(sel.adapter)
                let g: Int
                if let i = index[id] { g = i } else {
                    g = groups.count
                    index[id] = g
                    groups.append((sel.adapter, []))
                }
                for i in 0..<seq.tokens.count { groups[g].tokens.append((t + i, sel.scale)) }
            }
            if active.count > 1 { shared.formUnion(t..<(t + seq.tokens.count)) }
            t += seq.tokens.count
        }
        // A row's several updates go in this order (`applyLora`): by adapter, whatever the batch or
        // a request's list holds. Float sums in another order round otherwise, which the next
        // layer's 8-bit activations can carry into another greedy token.
        groups.sort { ($0.adapter.name, $0.adapter.serial) < ($1.adapter.name, $1.adapter.serial) }
    }

    var isEmpty: Bool { groups.isEmpty }

    /// The groups over `rows` only (ascending), each renumbered to its index there.
    func restricted(to rows: [Int]) -> LoraGroups {
        var index: [Int: Int] = [:]
        for (j, r) in rows.enumerated() { index[r] = j }
        var out = LoraGroups([])
        out.groups = groups.compactMap { g in
            let kept = g.tokens.compactMap { t in index[t.row].map { (row: $0, scale: t.scale) } }
            return kept.isEmpty ? nil : (g.adapter, kept)
        }
        out.shared = Set(shared.compactMap { index[$0] })
        return out
    }
}

extension LlamaModel {
    /// y += each adapter's update of `target` in layer `li` for its rows, all adapters in one
    /// parallel region. x: [n, cols], y: [n, rows]
    func applyLora(_ lora: LoraGroups, _ target: LoraTarget, layer li: Int, x: Buffer, y: Buffer) {
        var items: [(pair: LoraPair, row: Int, scale: Float)] = [], serial = items
        var cost = 0, maxRank = 0
        for g in lora.groups {
            guard let pair = g.adapter.pair(layer: li, target) else { continue }
            for t in g.tokens {
                if lora.shared.contains(t.row) { serial.append((pair, t.row, t.scale)) } else { items.append((pair, t.row, t.scale)) }
            }
            cost += pair.cost * g.tokens.count
            maxRank = max(maxRank, pair.rank)
        }
        guard !items.isEmpty || !serial.isEmpty else { return }
        // A few tokens' updates cost less than waking the pool: at least ~64k multiply-adds a chunk.
        let minChunk = max(1, items.count * 65536 / max(cost, 1))
        let xp = x.p, yp = y.p
        pool.parallelFor(items.count, minChunk: minChunk) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: maxRank)
            defer { scratch.deallocate() }
            for i in range { items[i].pair.apply(x: xp, y: yp, row: items[i].row, scale: items[i].scale, scratch: scratch) }
        }
        if !serial.isEmpty {
            // Group by group: each row's updates in the groups' order (by adapter, `LoraGroups.init`).
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: maxRank)
            defer { scratch.deallocate() }
            for it in serial { it.pair.apply(x: xp, y: yp, row: it.row, scale: it.scale, scratch: scratch) }
        }
    }
}
