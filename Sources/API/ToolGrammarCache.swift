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
/// Under `auto` the grammar is lazy (`lazy`: the matcher holds it from where a call begins, see
/// `ToolCallFormat.lazyTriggers`): one tagged call, or for Hermes also a ```json block of calls
/// or a bare call object (or one in doubled braces), in the spacing the model picks.
///
/// Kept by their text, so a client sending the same tools each turn compiles them once and
/// the token masks cached in the grammar stay warm.
final class ToolGrammarCache: Sendable {
    private let entries = Mutex<[String: TokenGrammar]>([:])
    private let capacity = 32

    func grammar(format: ToolCallFormat, calls: [(name: String, schemaText: String, schema: CompiledGrammar)], parallel: Bool,
                 lazy: Bool = false, limits: GrammarLimits, trie: @autoclosure () -> TokenTrie) throws -> TokenGrammar {
        let key = "\(format.rawValue)|\(parallel)|\(lazy)|" + calls.map { "\($0.name)=\($0.schemaText.utf8.count):\($0.schemaText)" }.joined(separator: ",")
        if let g = entries.withLock({ $0[key] }) { return g }
        let composer = GrammarComposer(limits: limits)
        let b = composer.builder
        let lazyHermes = lazy && format == .hermes
        // The family's call text with each schema in its place; built only where used, since each
        // embedding copies the schema's rules.
        func templated() -> GrammarNode {
            let alternatives: [GrammarNode] = calls.map { c in
                let (before, after) = format.callTemplate(name: c.name)
                return .seq([.text(before), composer.embed(c.schema), .text(after)])
            }
            let call = GrammarNode.rule(b.addRule("call", .alt(alternatives)))
            let list = format.callList
            // Lazy Hermes calls are one per tag (the matcher rearms for the next); a list otherwise.
            let listed: GrammarNode = parallel && !lazyHermes ? .seq([call, .star(.seq([.text(list.separator), call]))]) : call
            return .seq([.text(list.open), listed, .text(list.close)])
        }
        var root: GrammarNode
        if lazyHermes {
            // Under `auto`, Qwen2.5-Coder writes its calls as a ```json block or a bare object more
            // often than in <tool_call> tags; the parser takes all three, so the grammar does.
            // Several calls may share a block when they may be parallel.
            let object = GrammarNode.rule(b.addRule("object", Self.object(calls, composer, limits)))
            let objects: GrammarNode = parallel ? .seq([object, .star(.seq([GrammarNode.jsonWhitespace(limits), object]))]) : object
            let ws = GrammarNode.jsonWhitespace(limits)
            // And `{{…}}`, the doubled braces Qwen2.5-Coder's template shows a call with. In a tag,
            // the object in JSON's compact or indented spacing and with either key, as the parser
            // takes it; that covers the template's own spacing, whose alternative would only double
            // the stacks (it stays where no whitespace is allowed).
            let tagged = GrammarNode.seq([.text("<tool_call>"), ws, object, ws, .text("</tool_call>")])
            root = .alt([limits.maxWhitespace > 0 ? tagged : templated(),
                         .seq([.text("```"), .optional(.text("json")), ws, objects, ws, .text("```")]), object,
                         .seq([.text("{"), ws, object, ws, .text("}")])])
        } else {
            root = templated()
        }
        let g = TokenGrammar(grammar: try composer.compile(root), trie: trie())
        let capacity = capacity
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = g
        }
        return g
    }

    /// `{"name": "f", "arguments": {…}}` with the whitespace a model writes it with, for any of the
    /// tools; `"parameters"` too, the key some models write and the parser takes.
    static func object(_ calls: [(name: String, schemaText: String, schema: CompiledGrammar)], _ composer: GrammarComposer,
                       _ limits: GrammarLimits) -> GrammarNode {
        // The schemas' own whitespace rules: none before `,` and `:`, at most a space after `:`.
        let ws = GrammarNode.jsonWhitespace(limits), colon = GrammarNode.seq([.text(":"), GrammarNode.jsonAfterColon(limits)])
        let named: [GrammarNode] = calls.map { c in
            .seq([.text(JSON.string(c.name).serialized), .text(","), ws, .alt([.text("\"arguments\""), .text("\"parameters\"")]), colon,
                  composer.embed(c.schema)])
        }
        return .seq([.text("{"), ws, .text("\"name\""), colon, .alt(named), ws, .text("}")])
    }
}
