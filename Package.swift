// swift-tools-version:6.0
import PackageDescription

// Kernels are compiled with optimisation even in debug builds so the test suite
// can run real forward passes; correctness checks stay in tests.
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
// The model target parses untrusted files (metadata, shapes) besides gluing the kernels
// together: optimised, but with Swift's bounds and overflow checks kept.
let modelFlags: [SwiftSetting] = [.unsafeFlags(["-O"])]
// AVX2 kernels: only called after a cpuid check (Kernels/CPUFeatures.swift).
let avx2Flags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c",
                                                "-target-cpu", "haswell"])]
// AVX-512 VNNI kernels: only called after a cpuid check (Kernels/CPUFeatures.swift); -target-cpu lets the
// intrinsics inline (as haswell does for AVX2). -mamx-* lets CAMX's tile wrappers inline into the AMX
// kernel (called only after CPUFeatures.hasAMX; compilers never emit tile instructions on their own).
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-Xcc", "-mavx512f", "-Xcc", "-mavx512bw", "-Xcc", "-mavx512vl",
                                                  "-Xcc", "-mavx512vnni", "-Xcc", "-mamx-tile", "-Xcc", "-mamx-int8", "-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c",
                                                  "-target-cpu", "znver4"])]

let package = Package(
    name: "Jeton",
    // Mutex and Atomic (the Synchronization module) need macOS 15.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "jeton", targets: ["Jeton"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        // The file reader and the tokenizer are optimised in debug builds too (checks kept): each
        // process of the test suite parses a model's metadata and builds its vocabulary, 4.5 s for
        // Qwen's 152K tokens unoptimised, 0.5 s so.
        .target(name: "GGUF", swiftSettings: [.unsafeFlags(["-O"])]),
        // AVX2 kernels, compiled for AVX2/FMA and called only after a CPU check (Kernels/CPUFeatures).
        // Software prefetch for the attention and logits kernels (a C builtin Swift cannot spell).
        .target(name: "CPrefetch"),
        .target(name: "KernelsAVX2", dependencies: ["CPrefetch"], swiftSettings: avx2Flags),
        // AVX-512 VNNI kernels for the batched int8 matmul (Q8ActivationsView comes from KernelsAVX2).
        // AMX tile instructions (macros in C), the arch_prctl that lets a process use them, and XCR0 (xgetbv).
        .target(name: "CAMX"),
        // AVX-512 BF16 instructions (their intrinsics take a vector type Swift does not import).
        .target(name: "CBF16"),
        .target(name: "KernelsAVX512", dependencies: ["KernelsAVX2", "CPrefetch", "CAMX", "CBF16"], swiftSettings: avx512Flags),
        .target(name: "Kernels", dependencies: ["GGUF", "KernelsAVX2", "KernelsAVX512", "CAMX", "CPrefetch"], swiftSettings: kernelFlags),
        .target(name: "Tokenizer", dependencies: ["GGUF"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Model", dependencies: ["GGUF", "Kernels", "Tokenizer"], swiftSettings: modelFlags),
        // Constrained decoding: JSON schema / regex / choice / GBNF compiled to byte automata, token masks.
        // Optimised even in debug builds, as the kernels are: a mask walks the whole vocabulary trie.
        .target(name: "Grammar", dependencies: ["Tokenizer"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Engine", dependencies: ["Model", "Kernels", "Grammar"]),
        .target(name: "Jinja"),
        .target(name: "API", dependencies: ["HTTP", "Engine", "Model", "Tokenizer", "Jinja", "Grammar"]),
        .target(name: "HTTP", dependencies: ["CZlib", "COpenSSL"]),
        .executableTarget(name: "Jeton", dependencies: [
            "GGUF", "Kernels", "Tokenizer", "Model", "Engine", "HTTP", "API", "Grammar", "COpenSSL", "CZlib",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // Request-validation fuzzer (fuzz/api/run.sh builds it with libFuzzer); a corpus replayer otherwise.
        .executableTarget(name: "jeton-fuzz-api", dependencies: ["API", "Engine", "Model"], path: "fuzz/api",
                          exclude: ["corpus", "run.sh", "json.dict"]),
        // The trivial server benchmarks/http/run.sh measures beside nginx.
        .executableTarget(name: "http-bench-server", dependencies: ["HTTP"], path: "benchmarks/http/BenchServer"),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "Kernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KernelTests", dependencies: ["Kernels", "GGUF", "KernelsAVX2", "KernelsAVX512", "CPrefetch"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "GGUF", "Kernels", "Tokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Model", "Kernels", "Grammar"]),
        .testTarget(name: "JinjaTests", dependencies: ["Jinja"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"]),
        .testTarget(name: "GrammarTests", dependencies: ["Grammar", "Tokenizer"]),
        .testTarget(name: "APITests", dependencies: ["API", "Grammar"], exclude: ["Fixtures"]),
        // The server's own pieces (configuration), from the executable target.
        .testTarget(name: "JetonTests", dependencies: ["Jeton"]),
    ],
    swiftLanguageModes: [.v6]
)
