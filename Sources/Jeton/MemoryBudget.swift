import Engine
import Foundation
import Kernels
import Model

/// The memory this process may use: the machine's, capped by a cgroup memory limit (a container's,
/// cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`, the smallest along its cgroup's path). A
/// generation model's KV cache is written in full when its engine starts, so a cache larger than
/// what is left is refused with a message before it is allocated: written into a container's
/// limit, it would have the process killed by the kernel without a word.
enum MemoryBudget {
    /// `root`: where the cgroup file systems are mounted; `cgroupFile`: the process's
    /// `/proc/self/cgroup` (both parameters for tests).
    static func bytes(physical: Int = Int(clamping: ProcessInfo.processInfo.physicalMemory), root: String = "/sys/fs/cgroup",
                      cgroupFile: String = "/proc/self/cgroup") -> Int {
        min(physical, limit(root: root, cgroupFile: cgroupFile) ?? .max)
    }

    /// The smallest cgroup memory limit along the process's cgroups, or nil without one.
    static func limit(root: String, cgroupFile: String) -> Int? {
        CPUBudget.limits(cgroupFile: cgroupFile, v2: { dir in
            CPUBudget.read(root + dir + "/memory.max").flatMap(Double.init)  // "max" or bytes
        }, v1Controller: "memory", v1: { dir in
            // v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages).
            CPUBudget.read(root + "/memory" + dir + "/memory.limit_in_bytes").flatMap(Double.init).flatMap { $0 < 0x1p60 ? $0 : nil }
        }).min().map { Int($0) }
    }

    /// This process's resident bytes (VmRSS), 0 where /proc has none.
    static func resident() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return kib * 1024
    }

    /// Bytes of the KV cache an engine under `configuration` makes for a model of config `c`, sized
    /// as the engine sizes it: with a sliding `window` (Gemma 3), those layers keep their pool's
    /// blocks only; nil keeps every position in every layer (as a draft model's cache does).
    static func cacheBytes(_ c: ModelConfig, window: Int?, _ configuration: EngineConfiguration) -> Int {
        KVCacheStorage.bytes(layers: c.layers, kvDim: c.kvDim, blockSize: configuration.blockSize, blockCount: configuration.blockCount,
                             type: configuration.cacheType, localLayers: window == nil ? [] : c.slidingLayers,
                             localBlockCount: window.map { Engine.localPoolBlocks(configuration, window: $0) } ?? 0)
    }

    /// Refuses a KV cache of `bytes` (the draft model's `draftBytes` with it) that does not fit what
    /// the process may still take.
    static func checkCache(bytes: Int, draftBytes: Int, tokens: Int, budget: Int = bytes(), resident: Int = resident()) throws {
        let free = budget - resident
        guard bytes + draftBytes > free else { return }
        let mib = { (b: Int) in "\(b >> 20) MiB" }
        let draft = draftBytes > 0 ? " (and the draft model's \(mib(draftBytes)))" : ""
        throw JetonConfig.Failure(description: "engine.cache_tokens \(tokens): the KV cache needs \(mib(bytes))\(draft), but this "
            + "process may take only \(mib(max(0, free))) more (memory limit \(mib(budget)), \(mib(resident)) resident); "
            + "lower engine.cache_tokens (or the model's cache_tokens)")
    }
}
