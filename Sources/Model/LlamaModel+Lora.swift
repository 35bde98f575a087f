import Kernels

/// The batch's token rows gathered by adapter (a segmented gather, as Punica and S-LoRA do):
/// the base matmul runs once for every token, then each adapter's low-rank update runs once
/// over the rows of the sequences that use it. Sequences without adapters cost nothing here.
struct LoraGroups {
    var groups: [(adapter: LoraAdapter, tokens: [(row: Int, scale: Float)])] = []

    init(_ batch: [BatchSequence]) {
        var index: [ObjectIdentifier: Int] = [:]
        var t = 0
        for seq in batch {
            for sel in seq.adapters where sel.scale != 0 {
                let id = ObjectIdentifier(sel.adapter)
                let g: Int
                if let i = index[id] { g = i } else {
                    g = groups.count
                    index[id] = g
                    groups.append((sel.adapter, []))
                }
                for i in 0..<seq.tokens.count { groups[g].tokens.append((t + i, sel.scale)) }
            }
            t += seq.tokens.count
        }
    }

    var isEmpty: Bool { groups.isEmpty }
}

extension LlamaModel {
    /// y += each adapter's update of `target` in layer `li` for its rows. x: [n, cols], y: [n, rows]
    func applyLora(_ lora: LoraGroups, _ target: LoraTarget, layer li: Int, x: Buffer, y: Buffer) {
        for g in lora.groups {
            guard let pair = g.adapter.pair(layer: li, target) else { continue }
            pair.apply(x: x.p, y: y.p, tokens: g.tokens, pool: pool)
        }
    }

}
