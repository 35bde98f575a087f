import Foundation

/// The CPUs this process may keep busy: the online ones, capped by a cgroup CPU quota (a
/// container's CPU limit, cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`, the smallest along its
/// cgroup's path). `threads: 0` and `event_loops: 0` mean this many: with a 2-CPU limit on a
/// 64-core node, 64 spinning forward-pass threads would be throttled most of each period.
enum CPUBudget {
    /// Read once: a process's quota does not change under it in practice, and every default asks.
    static let cpus = cpus(online: ProcessInfo.processInfo.activeProcessorCount)

    /// `root`: where the cgroup file systems are mounted; `cgroupFile`: the process's
    /// `/proc/self/cgroup` (both parameters for tests).
    static func cpus(online: Int, root: String = "/sys/fs/cgroup", cgroupFile: String = "/proc/self/cgroup") -> Int {
        guard let quota = quota(root: root, cgroupFile: cgroupFile) else { return max(1, online) }
        return max(1, min(online, Int(quota.rounded(.up))))
    }

    /// CPUs' worth of time per period the process's cgroups allow, or nil without a limit.
    static func quota(root: String, cgroupFile: String) -> Double? {
        limits(cgroupFile: cgroupFile, v2: { dir in
            // "max 100000" or "200000 100000"
            let f = read(root + dir + "/cpu.max")?.split(separator: " ")
            guard let f, f.count == 2, let q = Double(f[0]), let p = Double(f[1]), q > 0, p > 0 else { return nil }
            return q / p
        }, v1Controller: "cpu", v1: { dir in
            let mount = ["/cpu", "/cpu,cpuacct", "/cpuacct,cpu"].first { FileManager.default.fileExists(atPath: root + $0) } ?? "/cpu"
            guard let q = read(root + mount + dir + "/cpu.cfs_quota_us").flatMap(Double.init), q > 0,
                  let p = read(root + mount + dir + "/cpu.cfs_period_us").flatMap(Double.init), p > 0 else { return nil }
            return q / p
        }).min()
    }

    /// The limits the process's cgroups set (`cgroupFile`: its /proc/self/cgroup), each read along its
    /// path: `v2` in the unified hierarchy, `v1` in the hierarchy of controller `v1Controller`.
    static func limits(cgroupFile: String, v2: (String) -> Double?, v1Controller: Substring, v1: (String) -> Double?) -> [Double] {
        guard let text = try? String(contentsOfFile: cgroupFile, encoding: .utf8) else { return [] }
        var out: [Double] = []
        for line in text.split(separator: "\n") {
            // hierarchy-ID:controllers:path
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let controllers = parts[1].split(separator: ","), path = String(parts[2])
            if parts[0] == "0" && controllers.isEmpty {
                out += along(path, v2)
            } else if controllers.contains(v1Controller) {
                out += along(path, v1)
            }
        }
        return out
    }

    /// `limit` of `path` and of each of its ancestors (MemoryBudget reads memory limits the same way; inside a container's cgroup namespace the
    /// path is "/": its own cgroup at the mount's root).
    static func along(_ path: String, _ limit: (String) -> Double?) -> [Double] {
        var dir = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        var out: [Double] = []
        while true {
            if let l = limit(dir == "/" ? "" : dir) { out.append(l) }
            guard dir != "/" && !dir.isEmpty, let cut = dir.lastIndex(of: "/") else { break }
            dir = cut == dir.startIndex ? "/" : String(dir[..<cut])
        }
        return out
    }

    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
