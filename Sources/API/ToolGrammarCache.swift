import Foundation
import Grammar
import Synchronization

/// Grammars for forced tool calls (`tool_choice` "required" or a named function): the call as
/// the model's family writes it, with each function's parameter schema in the arguments' place.
/// For Hermes with two tools and parallel calls allowed:
///
///     root ::= call ("\n" call)*
///     call ::= "<tool_call>\n{\"name\": \"a\", \"arguments\": " schema_a "}\n</tool_call>"
///            | "<tool_call>\n{\"name\": \"b\", \"arguments\": " schema_b "}\n</tool_call>"
///
/// Kept by their text, so a client sending the same tools each turn compiles them once and
/// the token masks cached in the grammar stay warm.
final class ToolGrammarCache: Sendable {
    private let entries = Mutex<[String: TokenGrammar]>([:])
    private let capacity = 32

    func grammar(format: ToolCallFormat, calls: [(name: String, schemaText: String, schema: CompiledGrammar)], parallel: Bool,
                 limits: GrammarLimits, trie: @autoclosure () -> TokenTrie) throws -> TokenGrammar {
        let key = "\(format.rawValue)|\(parallel)|" + calls.map { "\($0.name)=\($0.schemaText.utf8.count):\($0.schemaText)" }.joined(separator: ",")
        if let g = entries.withLock({ $0[key] }) { return g }
        let composer = GrammarComposer(limits: limits)
        let alternatives: [GrammarNode] = calls.map { c in
            let (before, after) = format.callTemplate(name: c.name)
            return .seq([.text(before), composer.embed(c.schema), .text(after)])
        }
        let b = composer.builder
        let call = GrammarNode.rule(b.addRule("call", .alt(alternatives)))
        let list = format.callList
        let calls: GrammarNode = parallel ? .seq([call, .star(.seq([.text(list.separator), call]))]) : call
        let g = TokenGrammar(grammar: try composer.compile(.seq([.text(list.open), calls, .text(list.close)])), trie: trie())
        let capacity = capacity
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = g
        }
        return g
    }
}
