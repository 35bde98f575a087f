/// Builds a grammar around grammars compiled on their own: literal text, alternations and
/// repetitions (a `GrammarBuilder`) with holes, each filled by a `CompiledGrammar` (a JSON
/// schema, say). Tool calling uses it: `<tool_call>\n{"name": "f", "arguments": ` + the
/// function's parameter schema + `}\n</tool_call>`, one such call or several.
///
/// The outer grammar is lowered first with a placeholder rule per hole; the embedded grammars'
/// flat rules are then appended (their rule and byte-set indices shifted) and each placeholder
/// becomes a reference to its grammar's root. Embedded grammars are whole (not left-recursive),
/// and holes are placed after literal text, so the result is not left-recursive either.
public final class GrammarComposer {
    public let builder: GrammarBuilder
    private var holes: [(rule: Int, grammar: CompiledGrammar)] = []

    public init(limits: GrammarLimits = .init()) {
        builder = GrammarBuilder(limits: limits)
    }

    /// A node standing for the whole language of `grammar`.
    public func embed(_ grammar: CompiledGrammar) -> GrammarNode {
        let id = builder.addRule("embedded\(holes.count)", .empty)  // replaced after lowering
        holes.append((id, grammar))
        return .rule(id)
    }

    public func compile(_ root: GrammarNode) throws -> CompiledGrammar {
        let rootID = builder.addRule("root", root)
        let outer = try builder.compile(root: rootID)
        var rules = outer.loweredRules(ruleOffset: 0, setOffset: 0)
        var sets = outer.sets
        var names = (0..<rules.count).map { "_\($0)" }
        for (rule, g) in holes {
            let offset = rules.count
            rules += g.loweredRules(ruleOffset: offset, setOffset: Int32(sets.count))
            sets += g.sets
            names += (0..<g.ruleCount).map { "e\(rule)_\($0)" }
            rules[rule] = [[CompiledGrammar.reference(offset + g.rootRule)]]
        }
        return CompiledGrammar(rules: rules, sets: sets, root: rootID, names: names)
    }
}

extension CompiledGrammar {
    static func reference(_ rule: Int) -> Int32 { -Int32(rule) - 2 }

    /// The rule `code[0]` starts from.
    var rootRule: Int { Int(-code[0] - 2) }

    /// The rules as `GrammarBuilder` lowered them, with every reference moved by `ruleOffset`
    /// and every byte-set index by `setOffset`.
    func loweredRules(ruleOffset: Int, setOffset: Int32) -> [[[Int32]]] {
        (0..<ruleCount).map { r in
            (Int(ruleAlts[r])..<Int(ruleAlts[r + 1])).map { a in
                var alt: [Int32] = []
                var i = Int(altStart[a])
                while code[i] != Self.end {
                    let s = code[i]
                    alt.append(s >= 0 ? s + setOffset : Self.reference(Int(-s - 2) + ruleOffset))
                    i += 1
                }
                return alt
            }
        }
    }
}
