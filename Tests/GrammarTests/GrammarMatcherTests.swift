import XCTest
@testable import Grammar

final class GrammarMatcherTests: XCTestCase {
    func compile(_ spec: GrammarSpec) throws -> CompiledGrammar { try spec.compile() }

    func testRegexWholeMatch() throws {
        let g = try compile(.regex("[a-z]+@(foo|bar)\\.com"))
        XCTAssertTrue(g.accepts(Array("ab@foo.com".utf8)))
        XCTAssertFalse(g.accepts(Array("ab@foo.co".utf8)))
        XCTAssertFalse(g.accepts(Array("@bar.com".utf8)))
        XCTAssertTrue(g.acceptsPrefix(Array("ab@fo".utf8)))
        XCTAssertFalse(g.acceptsPrefix(Array("ab@x".utf8)))
    }

    /// A grammar that matches no string is refused when it compiles (an empty class, a lone
    /// surrogate, a schema string whose pattern cannot match); a dead alternative beside a
    /// living one is dropped, so the matcher never enters it.
    func testGrammarMatchingNothingIsRefused() throws {
        for spec: GrammarSpec in [.regex("[^\\s\\S]"), .gbnf("root ::= [^\\x00-\\U0010FFFF]"), .gbnf("root ::= [\\uD800]"),
                                  .gbnf("root ::= \"a\" x\nx ::= [^\\x00-\\U0010FFFF]"),
                                  .jsonSchema(#"{"type": "string", "pattern": "[^\\s\\S]"}"#)] {
            XCTAssertThrowsError(try compile(spec), "\(spec.key)") { e in
                XCTAssertEqual((e as? GrammarError)?.kind, .invalid, "\(e)")
            }
        }
        // The message names the rule nearest the cause, not the root.
        for (spec, rule) in [(GrammarSpec.gbnf("root ::= \"a\" x\nx ::= y \"b\"\ny ::= [^\\x00-\\U0010FFFF]"), "`y`"),
                             (.jsonSchema(#"{"type": "object", "properties": {"a": {"type": "string", "pattern": "[^\\s\\S]"}}, "required": ["a"]}"#), "properties/a")] {
            XCTAssertThrowsError(try compile(spec)) { e in XCTAssertTrue("\(e)".contains(rule), "\(e)") }
        }
        let g = try compile(.gbnf("root ::= \"a\" | \"b\" x\nx ::= [^\\x00-\\U0010FFFF]"))
        XCTAssertTrue(g.accepts(Array("a".utf8)))
        XCTAssertFalse(g.acceptsPrefix(Array("b".utf8)))
        let o = try compile(.jsonSchema(#"{"type": "object", "properties": {"a": {"type": "string", "pattern": "[^\\s\\S]"}, "b": {"type": "integer"}}}"#))
        XCTAssertTrue(o.accepts(Array(#"{"b": 1}"#.utf8)))
        XCTAssertFalse(o.acceptsPrefix(Array(#"{"a""#.utf8)))
    }

    /// `const` with a `type` it does not have matches nothing: refused, as `enum` is.
    func testConstOfAnotherTypeIsRefused() throws {
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"type": "string", "const": 5}"#)))
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"type": "integer", "const": "abc"}"#)))
        XCTAssertTrue(try compile(.jsonSchema(#"{"type": "integer", "const": 5}"#)).accepts(Array("5".utf8)))
        XCTAssertTrue(try compile(.jsonSchema(#"{"type": ["string", "null"], "const": null}"#)).accepts(Array("null".utf8)))
    }

    /// Tokens split a two-byte character (é = C3 A9) and span several grammar symbols.
    func testTokensSplitUTF8AndSpanSymbols() throws {
        let tokens: [[UInt8]] = [[0xC3], [0xA9], Array("é".utf8), Array("a".utf8), Array("ab".utf8), Array("abd".utf8),
                                 Array("d".utf8), [0xA9, 0x61]]
        let trie = TokenTrie(tokens: tokens)
        let g = TokenGrammar(grammar: try compile(.regex("(é|a[bc]d)+")), trie: trie)
        var m = g.matcher()
        var mask = m.mask()
        XCTAssertTrue(mask.contains(0))   // first half of é
        XCTAssertFalse(mask.contains(1))  // second half alone
        XCTAssertTrue(mask.contains(2))   // é whole
        XCTAssertTrue(mask.contains(5))   // "abd": three symbols in one token
        XCTAssertFalse(mask.contains(6))
        XCTAssertFalse(mask.allowsEnd)
        XCTAssertTrue(m.accept(token: 0))
        mask = m.mask()
        XCTAssertEqual((0..<8).filter { mask.contains(Int32($0)) }, [1, 7])  // A9, and A9 followed by "a"
        XCTAssertTrue(m.accept(token: 1))
        XCTAssertTrue(m.canEnd)
        XCTAssertTrue(m.mask().allowsEnd)
        XCTAssertFalse(m.isComplete)
        XCTAssertFalse(m.accept(token: 6))  // "d" cannot follow é
    }

    func testChoiceCompletes() throws {
        let trie = TokenTrie(tokens: ["yes", "no", "y", "es", "n"].map { Array($0.utf8) })
        let g = TokenGrammar(grammar: try compile(.choice(["yes", "no"])), trie: trie)
        var m = g.matcher()
        XCTAssertEqual((0..<5).filter { m.mask().contains(Int32($0)) }, [0, 1, 2, 4])
        XCTAssertTrue(m.accept(token: 2))
        XCTAssertFalse(m.isComplete)
        XCTAssertTrue(m.accept(token: 3))
        XCTAssertTrue(m.isComplete)
        XCTAssertEqual(m.mask().allowedCount, 0)
        XCTAssertTrue(m.mask().allowsEnd)
    }

    func testMaskApply() {
        var mask = TokenMask(count: 70)
        mask.insert(3)
        mask.insert(65)
        mask.allowsEnd = true
        var row = [Float](repeating: 1, count: 72)
        row.withUnsafeMutableBufferPointer { mask.apply(to: $0, endOfGeneration: [69]) }
        XCTAssertEqual(row.indices.filter { row[$0].isFinite }, [3, 65, 69])
        mask.allowsEnd = false
        row = [Float](repeating: 1, count: 70)
        row.withUnsafeMutableBufferPointer { mask.apply(to: $0, endOfGeneration: [69]) }
        XCTAssertEqual(row.indices.filter { row[$0].isFinite }, [3, 65])
    }

    /// An `anyOf` alternative that cannot be enforced is left out beside one that can (Pydantic's
    /// `Decimal`); with none left, or a schema error, the compile fails as before.
    func testAnyOfLeavesOutWhatItCannotEnforce() throws {
        let decimal = #"{"anyOf": [{"type": "number"}, {"type": "string", "pattern": "^(?!^[-+.]*$)[+-]?0*\\d*\\.?\\d*$"}]}"#
        let g = try compile(.jsonSchema(decimal))
        XCTAssertTrue(g.accepts(Array("1.5".utf8)))
        XCTAssertFalse(g.acceptsPrefix(Array("\"".utf8)))
        let refs = try compile(.jsonSchema(##"{"anyOf": [{"type": "string", "pattern": "(?=x)"}, {"$ref": "#/$defs/n"}], "$defs": {"n": {"type": "null"}}}"##))
        XCTAssertTrue(refs.accepts(Array("null".utf8)))
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"anyOf": [{"type": "string", "pattern": "(?=x)"}, {"type": "string", "format": "uri"}]}"#))) { e in
            XCTAssertTrue("\(e)".contains("lookaround"), "\(e)")
        }
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"anyOf": [{"type": "strin"}, {"type": "null"}]}"#))) { e in
            XCTAssertEqual((e as? GrammarError)?.kind, .invalid)
        }
        // Not when only null would be left (an Optional field never set), nor for an unknown keyword (a typo).
        for schema in [#"{"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]}"#,
                       #"{"anyOf": [{"type": "string", "maxLenght": 5}, {"type": "integer"}]}"#] {
            XCTAssertThrowsError(try compile(.jsonSchema(schema)), schema) { e in
                XCTAssertEqual((e as? GrammarError)?.kind, .unsupported, "\(e)")
            }
        }
    }

    func testRecursiveRefAndErrors() throws {
        let tree = ##"{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}},"$ref":"#/$defs/node"}"##
        let g = try compile(.jsonSchema(tree))
        XCTAssertTrue(g.accepts(Array(#"{"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]}"#.utf8)))
        XCTAssertFalse(g.accepts(Array(#"{"v":1,"kids":[{"kids":[]}]}"#.utf8)))
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"type":"string","multipleOf":3}"#))) { e in
            XCTAssertEqual((e as? GrammarError)?.kind, .unsupported)
            XCTAssertTrue("\(e)".contains("multipleOf"))
        }
        XCTAssertThrowsError(try compile(.jsonSchema(##"{"$ref":"#"}"##)))        // left recursion
        XCTAssertThrowsError(try compile(.gbnf("root ::= root \"a\" | \"b\"")))  // left recursion
        XCTAssertThrowsError(try compile(.regex("(a")))
        XCTAssertThrowsError(try compile(.regex("a(?=b)")))
        XCTAssertThrowsError(try compile(.jsonSchema("{\"type\":")))
    }

    /// Found by a sweep: a lone surrogate escape in a GBNF literal made invalid UTF-8 (a pair is
    /// one character); a leading empty regex branch was dropped; a property whose schema is
    /// `false` and an `allOf` member's `required` for another member's property were refused.
    func testSweepFindings() throws {
        XCTAssertThrowsError(try compile(.gbnf(#"root ::= "\ud800" "x""#)))
        XCTAssertThrowsError(try compile(.gbnf(#"root ::= "\ud83d""#)))
        let pair = try compile(.gbnf(#"root ::= "ok \ud83d\ude00""#))
        XCTAssertTrue(pair.accepts(Array("ok 😀".utf8)))
        let leading = try compile(.regex("|a"))
        XCTAssertTrue(leading.accepts([]))
        XCTAssertTrue(leading.accepts(Array("a".utf8)))
        let noA = try compile(.jsonSchema(#"{"type":"object","properties":{"a":false,"b":{"type":"integer"}},"required":["b"],"additionalProperties":true}"#))
        XCTAssertTrue(noA.accepts(Array(#"{"b": 1}"#.utf8)))
        XCTAssertTrue(noA.accepts(Array(#"{"b": 1, "c": 2}"#.utf8)))
        XCTAssertFalse(noA.acceptsPrefix(Array(#"{"b": 1, "a""#.utf8)))
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"type":"object","properties":{"a":false},"required":["a"]}"#)))
        let merged = try compile(.jsonSchema(#"{"allOf":[{"type":"object","properties":{"a":{"type":"integer"}}},{"required":["a"]}]}"#))
        XCTAssertTrue(merged.accepts(Array(#"{"a": 1}"#.utf8)))
        XCTAssertFalse(merged.accepts(Array("{}".utf8)))
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"allOf":[{"type":"object","properties":{"a":{"type":"integer"}}},{"required":["b"]}]}"#)))
        // A required property left out of `properties` (additionalProperties left out: true in
        // JSON Schema) takes any value; with additionalProperties false nothing can match.
        let unlisted = try compile(.jsonSchema(#"{"type":"object","required":["zz"]}"#))
        XCTAssertTrue(unlisted.accepts(Array(#"{"zz": [1, "x"]}"#.utf8)))
        XCTAssertFalse(unlisted.accepts(Array("{}".utf8)))
        XCTAssertThrowsError(try compile(.jsonSchema(#"{"type":"object","required":["zz"],"additionalProperties":false}"#)))
        // An object with neither `properties` nor `additionalProperties` takes any keys (it took only
        // `{}`: a free-form tool parameter was always empty); with `properties` it keeps to them.
        let free = try compile(.jsonSchema(#"{"type":"object","properties":{"opts":{"type":"object"}},"required":["opts"]}"#))
        XCTAssertTrue(free.accepts(Array(#"{"opts": {"color": "red", "size": 42}}"#.utf8)))
        XCTAssertTrue(free.accepts(Array(#"{"opts": {}}"#.utf8)))
        XCTAssertFalse(free.acceptsPrefix(Array(#"{"opts": {}, "x""#.utf8)))
        XCTAssertTrue(unlisted.accepts(Array(#"{"zz": 1, "other": null}"#.utf8)))
        // A schema pattern's \s is ECMA-262's (no-break space included); guided_regex's is ASCII.
        let nbsp = Array("\"a\u{00A0}b\"".utf8)
        XCTAssertTrue(try compile(.jsonSchema(#"{"type":"string","pattern":"^a\\sb$"}"#)).accepts(nbsp))
        XCTAssertFalse(try compile(.jsonSchema(#"{"type":"string","pattern":"^a\\Sb$"}"#)).accepts(nbsp))
        XCTAssertFalse(try compile(.regex("a\\sb")).accepts(Array("a\u{00A0}b".utf8)))
        // Its `.` leaves out ECMA-262's line terminators (\r, U+2028, U+2029 too); guided_regex's only \n.
        let dot = try compile(.jsonSchema(#"{"type":"string","pattern":"^a.b$"}"#))
        XCTAssertTrue(dot.accepts(Array("\"a-b\"".utf8)))
        for t in ["\\r", "\u{2028}", "\u{2029}"] { XCTAssertFalse(dot.accepts(Array("\"a\(t)b\"".utf8)), t) }
        XCTAssertTrue(try compile(.regex("a.b")).accepts(Array("a\rb".utf8)))
        // Its `$` is the end of the text (ECMA-262, as pydantic's and JavaScript's validators
        // read it), not also before a final newline as Python's (found by a user's test: "ATL\n").
        for (p, ok) in [("^[A-Z]{3}$", "ATL"), ("^a+$", "aa"), ("^ab$|^cd$", "cd"), ("b$", "ab")] {
            let g = try compile(.jsonSchema(#"{"type":"string","pattern":"\#(p)"}"#))
            XCTAssertTrue(g.accepts(Array("\"\(ok)\"".utf8)), p)
            XCTAssertFalse(g.accepts(Array("\"\(ok)\\n\"".utf8)), p)
        }
    }

    func testLimits() {
        var limits = GrammarLimits()
        limits.maxSymbols = 5000
        XCTAssertThrowsError(try GrammarSpec.jsonSchema(#"{"type":"string","maxLength":100000}"#).compile(limits: limits)) { e in
            XCTAssertEqual((e as? GrammarError)?.kind, .tooLarge)
        }
        // Required array elements are rules of their own: a huge minItems is refused before they
        // are made (it took 69 s and 14 GB at 1e8, and the compile deadline never fired); a count
        // past 1e9 names its keyword as too large, not as a bad integer.
        for n in ["10000000", "100000000", "1e12", "1e19", "1e300"] {
            XCTAssertThrowsError(try GrammarSpec.jsonSchema(#"{"type":"array","items":{"type":"integer"},"minItems":\#(n)}"#).compile()) { e in
                XCTAssertEqual((e as? GrammarError)?.kind, .tooLarge, "\(e)")
                XCTAssertTrue("\(e)".contains("minItems"), "\(e)")
            }
        }
        for schema in [#"{"type":"string","minLength":2147483648}"#, #"{"type":"string","maxLength":1e19}"#,
                       #"{"type":"array","maxItems":1e300}"#] {
            XCTAssertThrowsError(try GrammarSpec.jsonSchema(schema).compile()) { e in
                XCTAssertEqual((e as? GrammarError)?.kind, .tooLarge, "\(e)")
            }
        }
        var deep = "{\"type\":\"string\"}"
        for _ in 0..<100 { deep = "{\"type\":\"array\",\"items\":\(deep)}" }
        XCTAssertThrowsError(try GrammarSpec.jsonSchema(deep).compile()) { e in
            XCTAssertEqual((e as? GrammarError)?.kind, .tooLarge)
        }
    }

    func testNumberBoundsAndWhitespace() throws {
        let g = try compile(.jsonSchema(#"{"type":"integer","minimum":-15,"exclusiveMaximum":300}"#))
        for (s, ok) in [("-15", true), ("-16", false), ("0", true), ("299", true), ("300", false), ("007", false), ("-0", false)] {
            XCTAssertEqual(g.accepts(Array(s.utf8)), ok, s)
        }
        let o = try compile(.jsonObject)
        XCTAssertTrue(o.accepts(Array("{ \"a\": [1, 2.5e3, null] }".utf8)))
        XCTAssertTrue(o.accepts(Array("{\n  \"a\": [\n    1,\n    2\n  ]\n}".utf8)))
        XCTAssertFalse(o.accepts(Array("{\"a\" : 1}".utf8)))       // nothing before a colon
        XCTAssertFalse(o.accepts(Array("{\"a\": \"paint\"   , \"b\": 1}".utf8)))  // nor before a comma
        XCTAssertFalse(o.accepts(Array("{\"a\":  1}".utf8)))       // one space after it
        XCTAssertFalse(o.accepts(Array(("{" + String(repeating: " ", count: 2) + "}").utf8)))
        XCTAssertFalse(o.accepts(Array(("{\n" + String(repeating: " ", count: 17) + "}").utf8)))
        var compact = GrammarLimits()
        compact.maxWhitespace = 0
        let c = try GrammarSpec.jsonObject.compile(limits: compact)
        XCTAssertTrue(c.accepts(Array("{\"a\":[1,2]}".utf8)))
        XCTAssertFalse(c.accepts(Array("{\"a\": 1}".utf8)))
        XCTAssertFalse(o.accepts(Array("[1]".utf8)))
    }

    func testCacheIsBounded() throws {
        let cache = GrammarCache(trie: TokenTrie(tokens: [Array("a".utf8)]), capacity: 2)
        let a = try cache.grammar(.regex("a"))
        XCTAssertTrue(try cache.grammar(.regex("a")) === a)
        _ = try cache.grammar(.regex("b"))
        _ = try cache.grammar(.regex("c"))
        XCTAssertEqual(cache.count, 2)
    }
}
