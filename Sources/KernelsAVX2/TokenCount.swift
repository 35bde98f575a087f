#if arch(x86_64)
/// A count of tokens fixed when a kernel is compiled: the F16 kernels take it as a type, so each
/// count is a specialization of its own (a count tested per column cost a third of the time).
public protocol TokenCount { static var tokens: Int { get } }
public enum Tokens1: TokenCount { @inlinable public static var tokens: Int { 1 } }
public enum Tokens2: TokenCount { @inlinable public static var tokens: Int { 2 } }
public enum Tokens3: TokenCount { @inlinable public static var tokens: Int { 3 } }
public enum Tokens4: TokenCount { @inlinable public static var tokens: Int { 4 } }
public enum Tokens5: TokenCount { @inlinable public static var tokens: Int { 5 } }
public enum Tokens6: TokenCount { @inlinable public static var tokens: Int { 6 } }
public enum Tokens7: TokenCount { @inlinable public static var tokens: Int { 7 } }
public enum Tokens8: TokenCount { @inlinable public static var tokens: Int { 8 } }
#endif
